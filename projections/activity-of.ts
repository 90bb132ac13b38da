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

/** Throws ProjectionDataError for a known event type whose data has the wrong shape. */
export function activityOf(event: PublicEvent): Activity {
  const d = event.data;
  switch (event.type) {
    case 'UserRegistered':
      return { user: text(d, 'userId'), action: 'register', target: null, at: time(d, 'registeredAt') };
    case 'UserLoggedIn':
      return { user: text(d, 'userId'), action: 'login', target: null, at: time(d, 'at') };
    case 'UserLoggedOut':
      return { user: text(d, 'userId'), action: 'logout', target: null, at: time(d, 'at') };
    case 'ChatOpened':
      return { user: text(d, 'userId'), action: 'open_chat', target: text(d, 'chatId'), at: time(d, 'at') };
    case 'ChatStarted':
      return { user: text(d, 'startedBy'), action: 'start_chat', target: text(d, 'chatId'), at: time(d, 'at') };
    case 'MessageSent':
      return { user: text(d, 'senderId'), action: 'send_message', target: text(d, 'chatId'), at: time(d, 'sentAt') };
    case 'MessageEdited':
      return { user: text(d, 'senderId'), action: 'edit_message', target: text(d, 'chatId'), at: time(d, 'editedAt') };
    case 'MessageDeleted':
      return { user: text(d, 'senderId'), action: 'delete_message', target: text(d, 'chatId'), at: time(d, 'deletedAt') };
    case 'ChatRead':
      return { user: text(d, 'readerId'), action: 'read_chat', target: text(d, 'chatId'), at: time(d, 'at') };
    case 'UserErased':
      return { user: text(d, 'userId'), action: 'erase_account', target: null, at: time(d, 'at') };
  }
}

/**
 * The event types that are user actions: every type, since activityOf maps each one (its switch has no
 * default, so a new event type fails the build there until it names its action). Derived rather than
 * listed, so that a new type cannot be left out of the activity log by a forgotten line.
 */
export const ACTIVITY_EVENT_TYPES: ReadonlyArray<PublicEvent['type']> = Object.keys(EVENT_FAMILIES) as Array<keyof typeof EVENT_FAMILIES>;
