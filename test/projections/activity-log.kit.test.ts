// The activity_log projection through the projection kit: one row per user action, keyed by event id.
import t from 'tap';
import { activityLogProjection } from '../../projections/activity-log.js';
import { eventId, projectionKit } from '../support/projection-kit.js';
import { chatOpened, chatStarted, loggedIn, loggedOut, m, messageSent, registered } from './kit-events.js';

t.test('activity-log', async (t) => {
  const { given } = projectionKit(t, activityLogProjection);
  const row = (n: number, user_id: string, action: string, target: string | null, at: string) => ({ event_id: eventId(n), position: String(n), user_id, action, target, at });

  await given([
    registered('alice', '2026-01-01T00:00:00Z'),
    loggedIn('alice', '2026-01-01T00:00:01Z'),
    chatStarted('alice', 'bob', '2026-01-01T00:00:02Z'),
    chatOpened('bob', 'alice:bob', '2026-01-01T00:00:03Z'),
    messageSent({ chatId: 'alice:bob', senderId: 'alice', body: 'hi', sentAt: '2026-01-01T00:00:04Z', messageId: m(1) }),
    loggedOut('alice', '2026-01-01T00:00:05Z'),
  ]).then({
    activity_log: [
      row(1, 'alice', 'register', null, '2026-01-01T00:00:00Z'),
      row(2, 'alice', 'login', null, '2026-01-01T00:00:01Z'),
      row(3, 'alice', 'start_chat', 'alice:bob', '2026-01-01T00:00:02Z'),
      row(4, 'bob', 'open_chat', 'alice:bob', '2026-01-01T00:00:03Z'),
      row(5, 'alice', 'send_message', 'alice:bob', '2026-01-01T00:00:04Z'),
      row(6, 'alice', 'logout', null, '2026-01-01T00:00:05Z'),
    ],
  }, 'every action, with its event id and log position');

  await given([{ type: 'UserLoggedIn', version: 1, data: { userId: 'alice', at: 'yesterday' } }]).thenParks(/data\.at must be an ISO-8601 time/);
});
