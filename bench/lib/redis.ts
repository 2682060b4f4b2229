import { createClient } from 'redis';

export const BENCH_REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Removes every key a bench wrote under its own prefix; returns how many. */
export async function dropKeys(prefix: string, url = BENCH_REDIS_URL): Promise<number> {
  const client = createClient({ url });
  await client.connect();
  let dropped = 0;
  try {
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      const keys: string[] = Array.isArray(batch) ? batch : [batch];
      if (keys.length) dropped += await client.unlink(keys);
    }
  } finally {
    await client.quit();
  }
  return dropped;
}
