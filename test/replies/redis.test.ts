/**
 * Replies on the Redis broker: two instances, each with its own Redis connections (as two
 * servers would have), sharing replies through Redis alone.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisBroker, type RedisBroker } from '../../src/adapters/redis/index.js';
import {
  commandsSentDuring,
  deletePrefix,
  REDIS_URL,
  redisAvailable,
  uniquePrefix,
} from '../helpers/redis.js';
import {
  expectWholeOnce,
  get,
  type Instance,
  post,
  readThenDrop,
  request,
  serve,
  steppedProducer,
  tokens,
  waitingProducer,
} from './helpers.js';

const available = await redisAvailable();
const prefixes: string[] = [];
const brokers: RedisBroker[] = [];
const instances: Instance[] = [];

afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  if (available) await Promise.all(prefixes.map(deletePrefix));
});

/** Two instances on one Redis (a fresh key prefix per test). */
async function pair(options: Parameters<typeof serve>[0] = {}) {
  const prefix = uniquePrefix('replies');
  prefixes.push(prefix);
  const make = async () => {
    const broker = createRedisBroker({ url: REDIS_URL, prefix, onError: () => {} });
    brokers.push(broker);
    await broker.ready();
    const app = await serve({ broker, onError: () => {}, ...options });
    instances.push(app);
    return { app, broker };
  };
  return [await make(), await make()] as const;
}

const N = 10;
const ALL = Array.from({ length: N }, (_, i) => `t${i + 1}`);

describe.skipIf(!available)('replies on Redis', () => {
  it('resumes on one instance, at every token boundary, a reply another instance runs: nothing lost or repeated', async () => {
    const [{ app: a }, { app: b }] = await pair();
    for (let k = 0; k <= N; k++) {
      const p = steppedProducer(N);
      a.setProducer(p.produce);
      const { location, seen } = await readThenDrop(a.url, p, k);
      // The producer goes on while the other instance is asked (Redis: the feed lags history).
      const pending = get(b.url, location, seen.at(-1)?.id);
      p.finish();
      const rest = await (await pending).rest();
      expectWholeOnce(seen, rest, ALL, p, `k=${k}`);
    }
  });

  it("answers a resume with one script call: the reply's state and its log's first page read together", async () => {
    // No heartbeat in the window (the producer is quiet while the resume is counted).
    const [{ app: a }] = await pair({ producerHeartbeat: 60_000, producerLostAfter: 300_000 });
    const p = waitingProducer(3);
    a.setProducer(p.produce);
    const first = await post(a.url);
    const location = first.headers.get('content-location') as string;
    const [t1] = await first.take(1);
    await first.take(2);
    first.disconnect();
    // The producer waits: the only scripts now are the resume's reads.
    const { result: events, sent } = await commandsSentDuring(async () => {
      const resumed = await get(a.url, location, t1?.id);
      const taken = await resumed.take(2);
      resumed.disconnect();
      return taken;
    });
    expect(tokens(events)).toEqual(['t2', 't3']);
    expect(sent.filter(({ name }) => name === 'evalsha' || name === 'eval')).toHaveLength(1);
    p.release();
  });

  it('stops from the other instance: the producer settles before the 204, every stream ends', async () => {
    const [{ app: a }, { app: b }] = await pair({ stopTimeout: 60_000 });
    const p = waitingProducer(1);
    a.setProducer(p.produce);
    const onA = await post(a.url);
    const location = onA.headers.get('content-location') as string;
    await onA.take(1);
    const onB = await get(b.url, location);
    await onB.take(1);
    expect((await request(new URL(location, b.url).href, { method: 'DELETE' })).status).toBe(204);
    expect(p.state.finallyRan).toBe(1);
    expect(p.state.reason).toMatchObject({ reason: 'stopped' });
    for (const stream of [onA, onB]) expect((await stream.rest()).at(-1)?.data).toBe('{"reason":"stopped"}');
  });

  it('joins 10 concurrent POSTs with one Idempotency-Key, split over both instances, to one producer', async () => {
    const [{ app: a }, { app: b }] = await pair();
    const p = waitingProducer(2);
    a.setProducer(p.produce);
    b.setProducer(p.produce);
    const headers = { 'idempotency-key': 'redis-key' };
    const streams = await Promise.all(
      Array.from({ length: 10 }, (_, i) => post(i % 2 ? a.url : b.url, headers)),
    );
    p.release();
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(['t1', 't2', 'last']);
    expect(p.state.runs).toBe(1);
  });

  it('gives the Idempotency-Key of a claimer whose open failed to one new reply on the other instance, produced once', async () => {
    const prefix = uniquePrefix('replies');
    prefixes.push(prefix);
    const [aBroker, bBroker] = [0, 1].map(() => {
      const broker = createRedisBroker({ url: REDIS_URL, prefix, onError: () => {} });
      brokers.push(broker);
      return broker;
    }) as [RedisBroker, RedisBroker];
    await Promise.all([aBroker.ready(), bBroker.ready()]);
    const p = steppedProducer(N);
    const options = { onError: () => {}, producerLostAfter: 100, produce: p.produce };
    // A claims keys on Redis, and its publishes fail: its reply never opens.
    const failing = { ...aBroker, publish: () => Promise.reject(new Error('Redis write failed')) };
    const a = await serve({ ...options, broker: failing });
    const b = await serve({ ...options, broker: bBroker });
    instances.push(a, b);
    const key = { 'idempotency-key': 'redis-claimed-then-failed' };
    expect((await post(a.url, key)).status).toBe(503);
    const streams = await Promise.all([post(b.url, key), post(b.url, key)]);
    p.finish();
    expect(streams.map((s) => s.status)).toEqual([200, 200]);
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
  });

  it('ends the readers of a reply with producer-lost when its instance loses Redis', async () => {
    const [{ app: a, broker: aBroker }, { app: b }] = await pair({
      producerHeartbeat: 20,
      producerLostAfter: 300,
    });
    const p = waitingProducer(1);
    a.setProducer(p.produce);
    const onA = await post(a.url);
    const location = onA.headers.get('content-location') as string;
    await onA.take(1);
    const onB = await get(b.url, location);
    await onB.take(1);
    await aBroker.close(); // A is cut off: no heartbeat reaches Redis any more
    const events = await onB.rest();
    expect(events.map((e) => e.data)).toEqual(['t1', '{"reason":"producer-lost"}']);
  });

  it('answers 404 on every instance once a finished reply is past its retention (Redis dropped its log)', async () => {
    const [{ app: a }, { app: b, broker }] = await pair({ limits: { retention: 100 } });
    a.setProducer(async ({ send }) => void (await send('x')));
    const stream = await post(a.url);
    const location = stream.headers.get('content-location') as string;
    await stream.rest();
    expect((await get(b.url, location)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(b.url, location)).status).toBe(404);
    const id = location.split('/').at(-1) as string;
    expect((await broker.history([`reply/${id}`], '0-0')).events).toEqual([]);
  });
});
