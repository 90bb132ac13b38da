/** Picks the event-store adapter the configuration names; adapters load lazily so unused drivers cost nothing. */
import type { EventStoreChoice } from '../config.js';
import type { Logger } from '../logger.js';
import type { EventStore } from '../../commands/ports/event-store.js';

export async function openEventStore(choice: EventStoreChoice, logger: Logger): Promise<EventStore> {
  switch (choice.kind) {
    case 'eventstoredb': {
      const { EventStoreDbStore } = await import('./eventstoredb.js');
      return EventStoreDbStore.open({ connectionString: choice.url });
    }
    case 'postgres': {
      const { PostgresEventStore } = await import('./postgres.js');
      return PostgresEventStore.open({ connectionString: choice.url, schema: choice.schema, logger });
    }
    case 'embedded': {
      const { EmbeddedEventStore } = await import('./embedded.js');
      return EmbeddedEventStore.open({ file: choice.file });
    }
  }
}
