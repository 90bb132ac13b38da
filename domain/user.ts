import type { Decider } from './decider.js';
import { domainError } from './errors.js';
import type { Role, UserEvent } from './events.js';
import { isValidNewUsername } from './username.js';
import { accept, reject, type Decision } from './result.js';

export type UserCommand =
  | { type: 'Register'; userId: string; username: string; passwordHash: string; role: Role; at: string }
  | { type: 'RecordLogin'; userId: string; at: string }
  | { type: 'RecordLogout'; userId: string; at: string }
  /** chatParticipants is null when the chat does not exist; the caller reads it from the chat stream. */
  | { type: 'RecordChatOpened'; userId: string; chatId: string; chatParticipants: readonly string[] | null; at: string }
  /** Erasure (docs/privacy.md): the caller destroys the data key; this records that it happened. */
  | { type: 'Erase'; userId: string; by: 'self' | 'operator'; at: string };

export type UserState =
  | { registered: false }
  | { registered: true; userId: string; username: string; passwordHash: string; role: Role; logins: number; erased?: true };

export const initialUserState: UserState = { registered: false };

/** An account that was registered and then erased (docs/privacy.md). */
export const isErased = (state: UserState): boolean => state.registered && state.erased === true;

function decide(command: UserCommand, state: UserState): Decision<UserEvent> {
  if (command.type === 'Register') {
    if (state.registered) return reject(domainError('USERNAME_TAKEN'));
    if (!isValidNewUsername(command.username) || command.userId !== command.username) {
      return reject(domainError('USERNAME_INVALID'));
    }
    const { userId, username, passwordHash, role, at } = command;
    return accept([{ type: 'UserRegistered', version: 1, data: { userId, username, passwordHash, role, registeredAt: at } }]);
  }
  if (!state.registered) return reject(domainError('USER_NOT_FOUND'));
  // An erased account keeps its name reserved (the stream exists) and does nothing more; erasing it again is a no-op.
  if (state.erased) return command.type === 'Erase' ? accept([]) : reject(domainError('USER_NOT_FOUND'));
  switch (command.type) {
    case 'RecordLogin':
      return accept([{ type: 'UserLoggedIn', version: 1, data: { userId: state.userId, at: command.at } }]);
    case 'RecordLogout':
      return accept([{ type: 'UserLoggedOut', version: 1, data: { userId: state.userId, at: command.at } }]);
    case 'RecordChatOpened':
      if (command.chatParticipants === null) return reject(domainError('CHAT_NOT_FOUND'));
      if (!command.chatParticipants.includes(state.userId)) return reject(domainError('NOT_A_PARTICIPANT'));
      return accept([{ type: 'ChatOpened', version: 1, data: { userId: state.userId, chatId: command.chatId, at: command.at } }]);
    case 'Erase':
      return accept([{ type: 'UserErased', version: 1, data: { userId: state.userId, at: command.at, by: command.by } }]);
  }
}

function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered': {
      const { userId, username, passwordHash, role, erased } = event.data;
      // A hash read after erasure ('') must never be verified against: the state is erased from the start.
      return erased ? { registered: true, userId, username, passwordHash: '', role, logins: 0, erased } : { registered: true, userId, username, passwordHash, role, logins: 0 };
    }
    case 'UserErased':
      return state.registered ? { ...state, passwordHash: '', erased: true } : state;
    case 'UserLoggedIn':
      return state.registered ? { ...state, logins: state.logins + 1 } : state;
    case 'UserLoggedOut':
    case 'ChatOpened':
      return state;
  }
}

export const userDecider: Decider<UserCommand, UserState, UserEvent> = { initialState: initialUserState, decide, evolve };
