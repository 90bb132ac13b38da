/**
 * The PostgreSQL event store, as the rest of the code imports it. Its parts are in postgres/: the
 * statements (sql.ts), the store (store.ts), group-commit batches (append-batch.ts), the LISTEN
 * connection (listener.ts) and subscriptions (subscription.ts); docs/architecture.md, "The PostgreSQL
 * event store", tells why it is built so.
 */
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres/store.js';
export type { PostgresEventStoreLogger } from './postgres/log.js';
