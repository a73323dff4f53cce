// The broker's calls at their edges: refused up front (no topics, a closed broker), failing
// while Redis is unreachable (typed), waiting out a short outage, destroyAll's reach, a batch
// of exactly the batch size, a read of an entry written by hand, the REDIS_URL default.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisBroker } from '../../../src/adapters/redis/index.js';
import { isBrokerError } from '../../../src/hub/index.js';
import {
  commandsSentDuring,
  REDIS_URL,
  redisAvailable,
  redisBrokers,
  startRedisProxy,
} from '../../helpers/redis.js';

const available = await redisAvailable();
const { broker, freshPrefix } = redisBrokers();
afterEach(() => {
  vi.unstubAllEnvs();
});

/** What `promise` rejects with (null if it resolves). */
function rejection(promise: Promise<unknown> | undefined): Promise<unknown> {
  return (promise as Promise<unknown>).then(
    () => null,
    (e: unknown) => e,
  );
}

/** Lets the broker see the connections a `cut()` dropped (a command asked before that is sent, and fails). */
function lostConnection(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}

describe.skipIf(!available)('Redis broker calls refused up front', () => {
  it('a publish to no topics rejects with publish-failed and stores nothing', async () => {
    const p = freshPrefix('no-topics');
    const b = broker(p);
    const error = await rejection(b.publish([], { data: 'x' }));
    expect(isBrokerError(error)).toBe(true);
    expect(error).toMatchObject({ type: 'publish-failed' });
    const admin = new Redis(REDIS_URL);
    try {
      expect(await admin.keys(`${p}*`)).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  it('history and claim on a closed broker reject at once with type closed', async () => {
    const b = broker(freshPrefix('closed'), { commandTimeout: 5000 });
    await b.publish(['t'], { data: 'x' });
    await b.close();
    const started = Date.now();
    const [history, claim] = await Promise.all([
      rejection(b.history(['t'], '0-0')),
      rejection(b.claim?.('k', 'v', 1000)),
    ]);
    expect(history).toMatchObject({ name: 'BrokerError', type: 'closed' });
    expect(claim).toMatchObject({ name: 'BrokerError', type: 'closed' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe.skipIf(!available)('Redis broker calls while Redis is unreachable (TCP proxy)', () => {
  it('history and claim reject with history-failed and claim-failed, every read asked together', async () => {
    const p = freshPrefix('unreachable');
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const b = broker(p, { url: proxy.url, commandTimeout: 300, maxBackoff: 100 });
      await b.publish(['t'], { data: 'x' });
      proxy.cut();
      await lostConnection();
      const [first, second, claim] = await Promise.all([
        rejection(b.history(['t'], '0-0')),
        rejection(b.history(['u'], '0-0')),
        rejection(b.claim?.('k', 'v', 1000)),
      ]);
      expect(first).toMatchObject({ name: 'BrokerError', type: 'history-failed' });
      expect(second).toBe(first);
      expect(claim).toMatchObject({ name: 'BrokerError', type: 'claim-failed' });
      expect((claim as Error).cause).toBeDefined();
    } finally {
      await proxy.close();
    }
  });

  it('a history read asked during a short outage waits for the connection and answers', async () => {
    const p = freshPrefix('outage-read');
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const b = broker(p, { url: proxy.url, commandTimeout: 5000, maxBackoff: 50 });
      const id = await b.publish(['t'], { data: 'x' });
      proxy.cut();
      await lostConnection();
      const page = b.history(['t'], '0-0');
      await new Promise((r) => setTimeout(r, 100));
      proxy.heal();
      expect((await page).events.map((e) => [e.id, e.data])).toEqual([[id, 'x']]);
    } finally {
      await proxy.close();
    }
  });

  it('a publish waiting for a connection still in its handshake fails as soon as the broker is closed', async () => {
    const p = freshPrefix('close-waiting');
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const b = broker(p, { url: proxy.url, commandTimeout: 10_000, maxBackoff: 50 });
      await b.ready();
      // The broker reconnects at once, and its handshake gets no answer: connected, not ready.
      proxy.hold();
      proxy.cut();
      proxy.heal();
      await new Promise((r) => setTimeout(r, 200));
      const pending = rejection(b.publish(['t'], { data: 'x' }));
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await b.close();
      const error = await pending;
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error).toMatchObject({ name: 'BrokerError', type: 'publish-failed' });
      expect((error as Error).cause).toMatchObject({ name: 'BrokerError', type: 'closed' });
    } finally {
      await proxy.close();
    }
  });

  it('calls waiting while Redis is unreachable (the broker between reconnects) fail as soon as it is closed', async () => {
    const p = freshPrefix('close-outage');
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const b = broker(p, { url: proxy.url, commandTimeout: 10_000 });
      await b.ready();
      // Cut, and left cut: ioredis waits between attempts, with no connection to end.
      proxy.cut();
      await new Promise((r) => setTimeout(r, 300));
      const waiting = [
        rejection(b.publish(['t'], { data: 'x' })),
        rejection(b.history(['t'], '0-0', { limit: 10 })),
      ];
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await b.close();
      const [published, read] = await Promise.all(waiting);
      // Not after commandTimeout (10 s): at once, and saying why.
      expect(Date.now() - started).toBeLessThan(2000);
      expect(published).toMatchObject({ name: 'BrokerError', type: 'publish-failed' });
      expect((published as Error).cause).toMatchObject({ name: 'BrokerError', type: 'closed' });
      expect(read).toMatchObject({ name: 'BrokerError', type: 'history-failed' });
      expect((read as Error).cause).toMatchObject({ name: 'BrokerError', type: 'closed' });
    } finally {
      await proxy.close();
    }
  });
});

describe.skipIf(!available)('Redis broker destroyAll', () => {
  it('deletes every key under its prefix, even one with glob characters, and no key of another prefix', async () => {
    const p = freshPrefix('destroy');
    // Read as a glob, `x*` would also match the keys of `xy:`.
    const mine = broker(`${p}x*`);
    const other = broker(`${p}xy:`);
    for (let i = 0; i < 3; i++) await mine.publish([`t${i}`], { data: 'mine' });
    await mine.claim?.('c', 'v', 60_000);
    await other.publish(['t0'], { data: 'other' });
    await mine.destroyAll();
    expect((await mine.history(['t0'], '0-0')).events).toEqual([]);
    expect((await other.history(['t0'], '0-0')).events.map((e) => e.data)).toEqual(['other']);
    const admin = new Redis(REDIS_URL);
    try {
      const left = await admin.keys(`${p}*`);
      expect(left.length).toBeGreaterThan(0);
      expect(left.every((key) => key.startsWith(`${p}xy:`))).toBe(true);
    } finally {
      admin.disconnect();
    }
  });
});

describe.skipIf(!available)('Redis broker batches and reads', () => {
  it('exactly 512 publishes in one turn go as one script call, with no empty call after it', async () => {
    const b = broker(freshPrefix('batch-512'));
    await b.publish(['warm'], { data: 'loads the script' });
    const { result: ids, sent } = await commandsSentDuring(async () => {
      const all = await Promise.all(
        Array.from({ length: 512 }, (_, i) => b.publish(['t'], { data: `d${i}` })),
      );
      // The turn after: where a scheduled send of the (empty) rest would go.
      await new Promise((r) => setTimeout(r, 20));
      return all;
    });
    expect(sent.filter((c) => c.name === 'evalsha' || c.name === 'eval')).toHaveLength(1);
    expect(new Set(ids).size).toBe(512);
    expect((await b.history(['t'], '0-0')).events.map((e) => e.id)).toEqual(ids);
  });

  it('a read of a stream holding an entry it cannot decode rejects; the reads sent with it still answer', async () => {
    const p = freshPrefix('corrupt');
    const b = broker(p);
    const good = await b.publish(['good'], { data: 'fine' });
    const admin = new Redis(REDIS_URL);
    try {
      // Written by hand: its topics field is not JSON.
      await admin.xadd(`${p}t:bad`, '*', 'd', 'x', 't', 'not json');
    } finally {
      admin.disconnect();
    }
    const [bad, page] = await Promise.all([rejection(b.history(['bad'], '0-0')), b.history(['good'], '0-0')]);
    expect(bad).toBeInstanceOf(Error);
    expect(page.events.map((e) => [e.id, e.data])).toEqual([[good, 'fine']]);
  });
});

describe('Redis broker default URL', () => {
  it('connects to REDIS_URL when no url is given', async () => {
    vi.stubEnv('REDIS_URL', 'redis://127.0.0.1:1/0');
    const b = createRedisBroker({ onError: () => {} });
    try {
      const error = await rejection(b.ready());
      expect(error).toMatchObject({ name: 'BrokerError', type: 'unreachable' });
      expect((error as Error).message).toContain('redis://127.0.0.1:1/0');
    } finally {
      await b.close();
    }
  });
});
