/** Picks the event-store adapter the configuration names; adapters load lazily so unused drivers cost nothing. */
import type { EventStoreChoice } from '../config.js';
import type { Logger } from '../logger.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { isReadsStreamId } from '../../domain/events.js';

export async function openEventStore(choice: EventStoreChoice, logger: Logger): Promise<EventStore> {
  switch (choice.kind) {
    case 'eventstoredb': {
      const { EventStoreDbStore } = await import('./eventstoredb.js');
      return EventStoreDbStore.open({ connectionString: choice.url });
    }
    case 'postgres': {
      const { PostgresEventStore } = await import('./postgres.js');
      // Read marks get a group-commit lane of their own: a send never waits for a batch of marks.
      return PostgresEventStore.open({ connectionString: choice.url, schema: choice.schema, logger, backgroundStreams: isReadsStreamId });
    }
    case 'embedded': {
      const { EmbeddedEventStore } = await import('./embedded.js');
      return EmbeddedEventStore.open({ file: choice.file });
    }
  }
}
