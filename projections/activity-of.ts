/**
 * Who did what, to which chat, when: the one mapping from an event to an audit action. The
 * activity_log projection stores it and `chat audit activity` computes it straight from the log, so
 * the read model and the replay cannot drift apart. Pure: no I/O, and it never sees a password
 * hash (it takes public events, redacted at the source).
 */
import { EVENT_FAMILIES } from '../domain/events.js';
import type { PublicEvent } from '../domain/public-event.js';
import { text, time } from './fields.js';

/** The actions of the audit trail, as stored in activity_log.action. */
export const ACTIVITY_ACTIONS = ['register', 'login', 'logout', 'start_chat', 'open_chat', 'send_message', 'read_chat', 'erase_account', 'edit_message', 'delete_message'] as const;
export type ActivityAction = (typeof ACTIVITY_ACTIONS)[number];

export interface Activity {
  user: string;
  action: ActivityAction;
  /** The chat acted on, if any. */
  target: string | null;
  /** ISO-8601, normalized. */
  at: string;
}

/**
 * Per event type: its action, and the data fields naming who acted, the chat acted on (null: none)
 * and when. Keyed by every event type, so a new type fails the build here until it names its action.
 */
const ACTIVITY_OF_TYPE: { [T in PublicEvent['type']]: { action: ActivityAction; user: string; target: 'chatId' | null; at: string } } = {
  UserRegistered: { action: 'register', user: 'userId', target: null, at: 'registeredAt' },
  UserLoggedIn: { action: 'login', user: 'userId', target: null, at: 'at' },
  UserLoggedOut: { action: 'logout', user: 'userId', target: null, at: 'at' },
  ChatOpened: { action: 'open_chat', user: 'userId', target: 'chatId', at: 'at' },
  ChatStarted: { action: 'start_chat', user: 'startedBy', target: 'chatId', at: 'at' },
  MessageSent: { action: 'send_message', user: 'senderId', target: 'chatId', at: 'sentAt' },
  MessageEdited: { action: 'edit_message', user: 'senderId', target: 'chatId', at: 'editedAt' },
  MessageDeleted: { action: 'delete_message', user: 'senderId', target: 'chatId', at: 'deletedAt' },
  ChatRead: { action: 'read_chat', user: 'readerId', target: 'chatId', at: 'at' },
  UserErased: { action: 'erase_account', user: 'userId', target: null, at: 'at' },
};

/** Throws ProjectionDataError for a known event type whose data has the wrong shape. */
export function activityOf(event: PublicEvent): Activity {
  const d = event.data;
  const of = ACTIVITY_OF_TYPE[event.type];
  return { user: text(d, of.user), action: of.action, target: of.target === null ? null : text(d, of.target), at: time(d, of.at) };
}

/**
 * The event types that are user actions: every type, since activityOf maps each one (ACTIVITY_OF_TYPE is
 * keyed by every type, so a new event type fails the build there until it names its action). Derived rather than
 * listed, so that a new type cannot be left out of the activity log by a forgotten line.
 */
export const ACTIVITY_EVENT_TYPES: ReadonlyArray<PublicEvent['type']> = Object.keys(EVENT_FAMILIES) as Array<keyof typeof EVENT_FAMILIES>;
