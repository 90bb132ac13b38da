// The keys of one test or bench run on a shared Redis, found by their prefix: a SCAN page at a time
// (never KEYS, which blocks the server) and deleted without FLUSHALL, which would hit everyone else.
import { Redis } from 'ioredis';

/** SCAN's MATCH pattern for the keys that start with prefix, its glob characters taken literally. */
const startingWith = (prefix: string): string => `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;

/** The keys under the prefix, a page at a time (empty pages skipped). */
export async function* keysUnder(redis: Redis, prefix: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', startingWith(prefix), 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) yield keys;
  } while (cursor !== '0');
}

/** Deletes every key under the prefix, through the given client or one of its own at a URL; returns how many. */
export async function deleteKeysUnder(redis: Redis | string, prefix: string): Promise<number> {
  const client = typeof redis === 'string' ? new Redis(redis) : redis;
  try {
    let deleted = 0;
    for await (const keys of keysUnder(client, prefix)) deleted += await client.del(...keys);
    return deleted;
  } finally {
    if (client !== redis) client.disconnect();
  }
}
