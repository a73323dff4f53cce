import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * True when a Redis answers at REDIS_URL. Without one, Redis tests are skipped with a visible
 * message, unless SSEKIT_REQUIRE_SERVICES is set (CI): then a missing Redis is a failure.
 */
export async function redisAvailable(): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  probe.on('error', () => {});
  let ok = false;
  try {
    await probe.connect();
    ok = (await probe.ping()) === 'PONG';
  } catch {
    ok = false;
  } finally {
    probe.disconnect();
  }
  if (!ok) {
    if (process.env.SSEKIT_REQUIRE_SERVICES) {
      throw new Error(`SSEKIT_REQUIRE_SERVICES is set but no Redis answers at ${REDIS_URL}`);
    }
    console.warn(`\n*** SKIPPING Redis tests: no Redis answers at ${REDIS_URL} (set REDIS_URL) ***\n`);
  }
  return ok;
}

/** A key prefix no other run uses (cleaned up by the test's afterAll). */
export function uniquePrefix(label: string): string {
  return `ssekit-test:${label}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL, { lazyConnect: true });
  admin.on('error', () => {});
  await admin.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(
        cursor,
        'MATCH',
        `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
        'COUNT',
        500,
      );
      cursor = next;
      if (keys.length > 0) await admin.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}
