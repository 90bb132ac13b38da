import t from 'tap';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createTestSchema } from '../support/pg.js';
import { commandSuite } from './suite.js';

commandSuite(t, async () => {
  const schema = await createTestSchema('cmd');
  const store = await PostgresEventStore.open({ connectionString: schema.url, schema: schema.schema });
  return { store, cleanup: async () => { await store.close(); await schema.drop(); } };
});
