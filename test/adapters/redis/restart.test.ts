// Faults of Redis itself, on a redis-server of this test's own (the shared one is never
// stopped): killed and restarted mid-run, unreachable while a publisher publishes, and full
// (maxmemory with noeviction).
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRequestListener } from '../../../src/adapters/node/index.js';
import { createRedisBroker, type RedisBroker } from '../../../src/adapters/redis/index.js';
import { createHub, type Hub, isBrokerError } from '../../../src/hub/index.js';
import { type OwnRedis, redisServerAvailable, startOwnRedis, uniquePrefix } from '../../helpers/redis.js';
import { listen } from '../../helpers/server.js';
import { subscribeWithClient, waitFor } from './subscriber.js';

const available = redisServerAvailable();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function ownRedis(options: { persist?: boolean } = {}): Promise<OwnRedis> {
  const redis = await startOwnRedis(options);
  cleanups.push(() => redis.stop());
  return redis;
}

function brokerOn(redis: OwnRedis, prefix: string, errors: unknown[], commandTimeout = 1000): RedisBroker {
  const broker = createRedisBroker({
    url: redis.url,
    prefix,
    commandTimeout,
    maxBackoff: 200,
    onError: (e) => errors.push(e),
  });
  cleanups.push(() => broker.close());
  return broker;
}

function hubOn(broker: RedisBroker): Hub {
  const hub = createHub({ broker, heartbeat: false });
  cleanups.push(() => hub.close({ timeout: 100 }));
  return hub;
}

/** Publishes `data` until Redis takes it (a publish during the outage fails with a BrokerError). */
async function publishUntilTaken(
  hub: Hub,
  topic: string,
  data: string,
  failures: unknown[],
): Promise<string> {
  for (;;) {
    try {
      return await hub.publish(topic, data);
    } catch (error) {
      if (!isBrokerError(error)) throw error;
      failures.push(error);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe.skipIf(!available)('Redis restarted mid-run (own redis-server, append-only file)', () => {
  it('subscribers stay connected and end with every event exactly once, in order', async () => {
    const redis = await ownRedis();
    const prefix = uniquePrefix('restart');
    const feedErrors: unknown[] = [];
    const subBroker = brokerOn(redis, prefix, feedErrors);
    const pubBroker = brokerOn(redis, prefix, []);
    await Promise.all([subBroker.ready(), pubBroker.ready()]);
    const subHub = hubOn(subBroker);
    const pubHub = hubOn(pubBroker);
    const server = await listen(createRequestListener(subHub.handler));
    cleanups.push(() => server.close());

    const subs = Array.from({ length: 4 }, () => subscribeWithClient(() => server.url, 'feed'));
    cleanups.push(async () => {
      for (const sub of subs) sub.close();
    });
    await waitFor(() => subs.every((s) => s.opens === 1), 10_000);
    expect(subs.map((s) => s.opens)).toEqual([1, 1, 1, 1]);

    const total = 4000;
    const acked: string[] = [];
    const failures: unknown[] = [];
    for (let i = 0; i < total; i++) {
      acked.push(await publishUntilTaken(pubHub, 'feed', String(i), failures));
      if (i === 1500) {
        await redis.kill();
        // While Redis is down a publish fails, clearly and typed, instead of waiting forever.
        const error = await pubHub.publish('feed', 'during the outage').then(
          () => null,
          (e: unknown) => e,
        );
        expect(isBrokerError(error)).toBe(true);
        expect((error as { type: string }).type).toBe('publish-failed');
        await redis.start();
      }
    }

    // What Redis kept (acknowledged publishes survive: fsync before the reply). A publish cut off
    // between its fsync and its reply is stored without an ack; its retry stores the data again.
    const history = await pubBroker.history(['feed'], '0-0', { limit: 100_000 });
    const stored = history.events.map((e) => e.id);
    expect(history.truncated).toBe(false);
    for (const id of acked) expect(stored).toContain(id);
    await waitFor(() => subs.every((s) => s.ids.length >= stored.length), 60_000);
    for (const sub of subs) {
      expect(sub.resets).toEqual([]);
      expect(sub.ids).toEqual(stored);
    }
    // The hub kept its streams open through the outage: nobody had to reconnect.
    expect(subs.map((s) => s.opens)).toEqual([1, 1, 1, 1]);
    // And the outage was real: the feed lost its connection and said so.
    expect(feedErrors.some((e) => isBrokerError(e) && e.type === 'feed-failed')).toBe(true);
  }, 120_000);

  it('rejects a publish with a typed error while Redis is down, and publishes again once it is back', async () => {
    const redis = await ownRedis();
    const broker = brokerOn(redis, uniquePrefix('outage'), [], 300);
    await broker.ready();
    const before = await broker.publish(['t'], { data: 'before' });
    await redis.kill();
    const error = await broker.publish(['t'], { data: 'down' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBrokerError(error)).toBe(true);
    expect((error as { type: string }).type).toBe('publish-failed');
    await redis.start();
    // The broker reconnects on its own, with backoff: publish as soon as it is back.
    const failures: unknown[] = [];
    let after: string | undefined;
    for (let i = 0; i < 100 && after === undefined; i++) {
      after = await broker.publish(['t'], { data: 'after' }).catch((e: unknown) => {
        failures.push(e);
        return undefined;
      });
    }
    if (after === undefined) throw failures[failures.length - 1];
    expect(failures.every(isBrokerError)).toBe(true);
    expect(broker.compareIds(after, before)).toBeGreaterThan(0);
    const page = await broker.history(['t'], '0-0');
    expect(page.events.map((e) => e.data)).toEqual(['before', 'after']);
  });
});

/** A feed of `broker` following `t`, closed after the test; what it hears. */
async function hearT(broker: RedisBroker) {
  const heard = { events: [] as string[], errors: [] as unknown[] };
  const feed = broker.subscribe({
    onEvent: (event) => heard.events.push(event.data),
    onError: (error) => heard.errors.push(error),
  });
  cleanups.push(() => feed.close());
  await feed.follow(['t']);
  return heard;
}

describe.skipIf(!available)('Redis restarted without its data', () => {
  /** A feed following `t` on a broker of `redis`; what it hears. */
  async function feedOn(redis: OwnRedis) {
    const broker = brokerOn(redis, uniquePrefix('wiped'), []);
    await broker.ready();
    return { broker, heard: await hearT(broker) };
  }

  /** Kills Redis, starts it again, publishes once it takes events, and waits for the feed to hear it. */
  async function restart(redis: OwnRedis, broker: RedisBroker, heard: { events: string[] }): Promise<void> {
    await redis.kill();
    await redis.start();
    let taken = false;
    for (let i = 0; i < 200 && !taken; i++) {
      taken = await broker.publish(['t'], { data: 'after' }).then(
        () => true,
        () => false,
      );
    }
    await waitFor(() => heard.events.includes('after'), 10_000);
    expect(heard.events).toContain('after');
  }

  it("tells the feed's listener (feed-failed) when Redis comes back without its data", async () => {
    const redis = await ownRedis({ persist: false });
    const { broker, heard } = await feedOn(redis);
    await broker.publish(['t'], { data: 'before' });
    await waitFor(() => heard.events.includes('before'), 10_000);
    await restart(redis, broker, heard);
    await waitFor(() => heard.errors.length > 0, 10_000);
    expect(heard.errors).toHaveLength(1);
    expect(heard.errors[0]).toMatchObject({ name: 'BrokerError', type: 'feed-failed' });
    expect((heard.errors[0] as Error).message).toMatch(/lost its data/);
  });

  it('says nothing when Redis kept its data (append-only file)', async () => {
    const redis = await ownRedis();
    const { broker, heard } = await feedOn(redis);
    await broker.publish(['t'], { data: 'before' });
    await waitFor(() => heard.events.includes('before'), 10_000);
    await restart(redis, broker, heard);
    expect(heard.errors).toEqual([]);
    expect(heard.events).toEqual(['before', 'after']);
  });
});

describe.skipIf(!available)('Redis full (maxmemory, noeviction)', () => {
  it('a feed still follows topics and says nothing; once Redis has room its events come', async () => {
    const redis = await ownRedis({ persist: false });
    const admin = new Redis(redis.url);
    cleanups.push(async () => admin.disconnect());
    const errors: unknown[] = [];
    const broker = brokerOn(redis, uniquePrefix('full'), errors);
    await broker.ready();
    // Every write that may use memory is refused (OOM); reads, Pub/Sub and deletes still run.
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const heard = await hearT(broker);
    await admin.config('SET', 'maxmemory', '0');
    await broker.publish(['t'], { data: 'after' });
    await waitFor(() => heard.events.length > 0, 5000);
    expect(heard.events).toEqual(['after']);
    expect(heard.errors).toEqual([]);
    expect(errors).toEqual([]);
  });
});
