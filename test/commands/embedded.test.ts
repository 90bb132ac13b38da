import t from 'tap';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { commandSuite } from './suite.js';

commandSuite(t, async () => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  return { store, cleanup: () => store.close() };
});
