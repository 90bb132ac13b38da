import type { DomainError } from '../domain/errors.js';
import type { PasswordHasher } from './ports/password-hasher.js';
import type { CommandBus } from './handle-command.js';

/** What commands need from the outside world; time and ids are injected so tests can fix them. */
export interface CommandDeps {
  bus: CommandBus;
  hasher: PasswordHasher;
  clock: () => Date;
  newId: () => string;
  /** CHAT_MESSAGE_EDIT_WINDOW_SECONDS in ms; absent: 24 h (domain/message-changes.ts). */
  messageEditWindowMs?: number;
}

export type CommandResult<T> = { ok: true; value: T } | { ok: false; error: DomainError };

export const succeed = <T>(value: T): CommandResult<T> => ({ ok: true, value });
export const fail = <T>(error: DomainError): CommandResult<T> => ({ ok: false, error });
