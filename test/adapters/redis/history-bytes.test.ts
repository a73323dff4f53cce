// The Redis broker's streams bounded in bytes and (exactly) in entries, and its live feed when
// entries it had not read yet were trimmed. Against the real Redis at REDIS_URL.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBroker } from '../../../src/adapters/redis/index.js';
import { HISTORY_EVENT_OVERHEAD_BYTES, isBrokerError } from '../../../src/hub/index.js';
import {
  REDIS_URL,
  redisAvailable,
  redisBrokers,
  redisServerAvailable,
  startOwnRedis,
  startRedisProxy,
} from '../../helpers/redis.js';

const available = await redisAvailable();
const { broker, freshPrefix } = redisBrokers();
let admin: Redis;

/** What the publish script counts for an event on one topic (see scripts.ts). */
function entryBytes(id: string, data: string, topic: string): number {
  return (
    Buffer.byteLength(data) +
    Buffer.byteLength(JSON.stringify([topic])) +
    id.length +
    HISTORY_EVENT_OVERHEAD_BYTES
  );
}

beforeAll(async () => {
  if (!available) return;
  admin = new Redis(REDIS_URL, { lazyConnect: true });
  await admin.connect();
});
afterAll(async () => {
  if (!available) return;
  admin.disconnect();
});

describe.skipIf(!available)('Redis broker history bounds', () => {
  it('keeps each topic stream within maxBytes, oldest out first; resuming from before is truncated', async () => {
    const p = freshPrefix('bytes');
    const b = broker(p, { maxBytes: 3000 });
    const ids: string[] = [];
    const data = (i: number) => `${i}${'é'.repeat(500)}`; // 1,001 bytes: 2 entries fit, not 3
    for (let i = 0; i < 6; i++) ids.push(await b.publish(['t'], { data: data(i) }));
    await b.publish(['other'], { data: 'x' });
    expect((await admin.xrange(`${p}t:t`, '-', '+')).map(([id]) => id)).toEqual([ids[4], ids[5]]);
    // The log: each entry's bytes, and what the stream holds in the last element.
    const log = (await admin.lrange(`${p}l:t`, 0, -1)).map((element) => element.split(' '));
    const [four, five] = [
      entryBytes(ids[4] as string, data(4), 't'),
      entryBytes(ids[5] as string, data(5), 't'),
    ];
    expect(log.map(([id, bytes]) => [id, Number(bytes)])).toEqual([
      [ids[4], four],
      [ids[5], five],
    ]);
    expect(Number(log[1]?.[2])).toBe(four + five);
    expect(await b.history(['t'], ids[4] as string)).toMatchObject({
      truncated: false,
      events: [{ id: ids[5], data: data(5) }],
    });
    // Exact: from the newest id trimmed, nothing is missing; from below it, something is.
    expect(await b.history(['t'], ids[3] as string)).toMatchObject({
      truncated: false,
      events: [{ id: ids[4] }, { id: ids[5] }],
    });
    expect((await b.history(['t'], ids[2] as string)).truncated).toBe(true);
    expect((await b.history(['t'], ids[0] as string)).truncated).toBe(true);
    expect((await b.history(['other'], ids[0] as string)).truncated).toBe(false);
  });

  it('never keeps more than maxLen entries per stream, trimming in batches', async () => {
    const p = freshPrefix('len');
    const b = broker(p, { maxLen: 32 });
    const ids: string[] = [];
    const lengths: number[] = [];
    for (let i = 0; i < 100; i++) {
      ids.push(await b.publish(['t', 'u'], { data: String(i) }));
      lengths.push(await admin.xlen(`${p}t:t`));
      expect(await admin.xlen(`${p}t:u`)).toBe(lengths[i]);
    }
    // Up to 32, then past it the stream goes to 30 (1/16 below): most publishes trim nothing.
    expect(lengths.slice(0, 32)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(lengths.slice(32, 38)).toEqual([30, 31, 32, 30, 31, 32]);
    expect(Math.max(...lengths)).toBe(32);
    const kept = (await admin.xrange(`${p}t:t`, '-', '+')).map(([id]) => id);
    expect(kept).toEqual(ids.slice(ids.length - kept.length));
    // Exact floor: from the newest id trimmed nothing is missing; from below it, something is.
    const newestTrimmed = ids[ids.length - kept.length - 1] as string;
    const page = await b.history(['t', 'u'], newestTrimmed);
    expect(page.truncated).toBe(false);
    expect(page.events.map((e) => e.id)).toEqual(kept);
    expect((await b.history(['t'], ids[ids.length - kept.length - 2] as string)).truncated).toBe(true);
  });

  it('keeps an event larger than maxBytes alone until the next one, and the feed gets it', async () => {
    const p = freshPrefix('huge');
    const b = broker(p, { maxBytes: 1000 });
    const seen: string[] = [];
    const feed = b.subscribe({ onEvent: (e) => seen.push(e.id), onError: () => {} });
    await feed.follow(['t']);
    const small = await b.publish(['t'], { data: 'a' });
    const huge = await b.publish(['t'], { data: 'x'.repeat(5000) });
    expect(await b.history(['t'], small)).toMatchObject({ truncated: false, events: [{ id: huge }] });
    expect(await admin.xlen(`${p}t:t`)).toBe(1);
    const next = await b.publish(['t'], { data: 'b' });
    expect(await b.history(['t'], huge)).toMatchObject({ truncated: false, events: [{ id: next }] });
    expect((await b.history(['t'], small)).truncated).toBe(true);
    await until(() => seen.length === 3);
    expect(seen).toEqual([small, huge, next]);
    await feed.close();
  });

  it('bounds by maxLen alone with maxBytes Infinity, and refuses a bad maxBytes', async () => {
    const p = freshPrefix('nobytes');
    const b = broker(p, { maxBytes: Number.POSITIVE_INFINITY, maxLen: 3 });
    for (let i = 0; i < 5; i++) {
      await b.publish(['t'], { data: 'x'.repeat(9 * 1024 * 1024) });
      expect(await admin.xlen(`${p}t:t`)).toBe(Math.min(i + 1, 3) - (i === 3 ? 1 : 0)); // 1 2 3 2 3
    }
    for (const bad of [-1, 0.5, Number.NaN]) {
      expect(() => createRedisBroker({ prefix: p, maxBytes: bad, redis: { lazyConnect: true } })).toThrow(
        RangeError,
      );
    }
  });

  it('trims entries written before the stream had a byte log on its first publish', async () => {
    const p = freshPrefix('migrate');
    // As an older ssekit wrote them: no log, no byte count.
    await admin.xadd(`${p}t:t`, '1-1', 'd', 'old', 't', '["t"]');
    await admin.xadd(`${p}t:t`, '1-2', 'd', 'old', 't', '["t"]');
    const b = broker(p);
    const id = await b.publish(['t'], { data: 'new' });
    expect((await admin.xrange(`${p}t:t`, '-', '+')).map(([entry]) => entry)).toEqual([id]);
    expect((await b.history(['t'], '1-1')).truncated).toBe(true);
    expect((await b.history(['t'], id)).truncated).toBe(false);
  });

  it('tells the feed listener when entries it had not read yet were trimmed, before what follows them', async () => {
    const p = freshPrefix('lag');
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const sub = broker(p, { url: proxy.url });
      const pub = broker(p, { maxLen: 3 });
      await Promise.all([sub.ready(), pub.ready()]);
      const log: string[] = [];
      const feed = sub.subscribe({
        onEvent: (e) => log.push(e.data),
        onError: (e) => log.push(isBrokerError(e) ? `error:${e.type}` : 'error'),
      });
      await feed.follow(['t']);
      await pub.publish(['t'], { data: 'e1' });
      await until(() => log.includes('e1'));
      // The feed's answers wait in the proxy while Redis trims past what it has read.
      proxy.hold();
      for (let i = 2; i <= 10; i++) await pub.publish(['t'], { data: `e${i}` });
      proxy.release();
      await until(() => log.includes('e10'));
      expect(log[0]).toBe('e1');
      expect(log.filter((entry) => entry.startsWith('error')).length).toBeGreaterThan(0);
      expect(log.filter((entry) => entry.startsWith('error:feed-failed')).length).toBe(
        log.filter((entry) => entry.startsWith('error')).length,
      );
      // Every event that follows one the feed did not deliver comes after an error.
      let last = 0;
      let warned = false;
      for (const entry of log) {
        if (entry.startsWith('error')) {
          warned = true;
          continue;
        }
        const n = Number(entry.slice(1));
        if (n !== last + 1) expect(warned, `e${n} after e${last}`).toBe(true);
        last = n;
        warned = false;
      }
      // And then what the stream still held.
      const kept = (await admin.xrange(`${p}t:t`, '-', '+')).map(([, fields]) => fields[1]);
      expect(kept.length).toBeGreaterThan(0);
      expect(log.slice(-kept.length)).toEqual(kept);
      await feed.close();
    } finally {
      await proxy.close();
    }
  });
});

describe.skipIf(!available || !redisServerAvailable())('Redis broker on a full Redis', () => {
  it('with maxmemory and noeviction, a publish fails whole and history still reads', async () => {
    const own = await startOwnRedis();
    const client = new Redis(own.url, { lazyConnect: true });
    try {
      await client.connect();
      const used = Number((await client.info('memory')).match(/used_memory:(\d+)/)?.[1]);
      await client.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      const p = 'full:';
      const b = broker(p, { url: own.url });
      const ids: string[] = [];
      let failure: unknown;
      for (let i = 0; i < 100 && failure === undefined; i++) {
        try {
          ids.push(await b.publish(['a', 'b'], { data: 'x'.repeat(100_000) }));
        } catch (error) {
          failure = error;
        }
      }
      expect(isBrokerError(failure) && failure.type).toBe('publish-failed');
      // Nothing of the refused publish was written: every key has every stored event, no more.
      for (const key of [`${p}seq`, `${p}t:a`, `${p}t:b`]) expect(await client.xlen(key)).toBe(ids.length);
      for (const key of [`${p}l:a`, `${p}l:b`]) expect(await client.llen(key)).toBe(ids.length);
      const page = await b.history(['a', 'b'], ids[0] as string);
      expect(page.truncated).toBe(false);
      expect(page.events.map((e) => e.id)).toEqual(ids.slice(1));
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
