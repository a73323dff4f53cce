/**
 * Redis killed and restarted mid-reply, on a redis-server of the test's own (the shared one is
 * never stopped). Two instances, each with its own broker on it: A runs the producer, B reads.
 *
 * What must hold: every reader settles (an `end`, or a `retry` hint and then a defined answer),
 * no event reaches a reader twice, and the producer runs once. When Redis kept its data
 * (append-only file) the reply goes on; when it restarted empty, the reply's log is gone, so the
 * reply ends (`failed`, its producer's signal aborted) and its URL answers 404 from then on.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisBroker } from '../../src/adapters/redis/index.js';
import { isReplyStoppedError, type Produce, type RepliesOptions } from '../../src/replies/index.js';
import { type OwnRedis, redisServerAvailable, startOwnRedis, uniquePrefix } from '../helpers/redis.js';
import { deferred, get, post, type Stream, serve, settles, tokens } from './helpers.js';

const available = redisServerAvailable();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function ownRedis(persist: boolean): Promise<OwnRedis> {
  const redis = await startOwnRedis({ persist });
  cleanups.push(() => redis.stop());
  return redis;
}

/** An instance on its own broker (its own Redis connections) of `redis`. */
async function instanceOn(redis: OwnRedis, prefix: string, options: RepliesOptions & { produce?: Produce }) {
  const broker = createRedisBroker({
    url: redis.url,
    prefix,
    commandTimeout: 500,
    maxBackoff: 100,
    onError: () => {},
  });
  cleanups.push(() => broker.close());
  await broker.ready();
  const app = await serve({ broker, onError: () => {}, ...options });
  cleanups.push(() => app.close());
  return app;
}

/**
 * A producer that sends t1..t5, waits for `go()`, then sends t6..t`total` (one each 5 ms) until
 * its signal aborts: Redis is never killed under a publish in flight.
 */
function gatedProducer(total: number) {
  const gate = deferred();
  const state = { runs: 0, refused: 0, reason: undefined as unknown, finished: deferred() };
  const produce: Produce = async ({ send, signal }) => {
    state.runs++;
    try {
      for (let i = 1; i <= total && !signal.aborted; i++) {
        if (!(await send(`t${i}`))) state.refused++;
        if (i === 5) await gate.promise;
        else await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } finally {
      state.reason = signal.reason;
      state.finished.resolve();
    }
  };
  return { produce, state, go: () => gate.resolve() };
}

/** A POST on A and a GET on B, both past t5 (the producer waits at its gate). */
async function twoReaders(persist: boolean, options: RepliesOptions = {}, total = 40) {
  const redis = await ownRedis(persist);
  const prefix = uniquePrefix('replies-restart');
  const p = gatedProducer(total);
  const lease = { producerHeartbeat: 100, producerLostAfter: 1000, ...options };
  const a = await instanceOn(redis, prefix, { produce: p.produce, ...lease });
  const b = await instanceOn(redis, prefix, lease);
  const onA = await post(a.url);
  const location = onA.headers.get('content-location') as string;
  await onA.take(5);
  const onB = await get(b.url, location);
  await onB.take(5);
  cleanups.push(async () => {
    onA.disconnect();
    onB.disconnect();
  });
  return { redis, p, a, b, onA, onB, location };
}

/** What a reader got is t1..tk once each, in order; at most one `end`. */
function expectInOrderOnce(stream: Stream): string[] {
  const got = tokens(stream.events);
  expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `t${i + 1}`));
  expect(stream.events.filter((e) => e.event === 'end').length).toBeLessThanOrEqual(1);
  const ids = stream.events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  return got;
}

const FAILED = JSON.stringify({ reason: 'failed' });

describe.skipIf(!available)('replies: Redis restarted mid-reply', () => {
  it('Redis kept its data (append-only file): the reply goes on, every token once, the producer run once', async () => {
    // A lease longer than the outage: B must not give up on the producer meanwhile.
    const { redis, p, b, onA, onB, location } = await twoReaders(true, { producerLostAfter: 10_000 });
    await redis.kill();
    await redis.start();
    p.go();
    const all = Array.from({ length: 40 }, (_, i) => `t${i + 1}`);
    for (const stream of [onA, onB]) {
      await settles(stream.rest(), 'a reader');
      expect(expectInOrderOnce(stream)).toEqual(all);
      expect(stream.events.at(-1)?.data).toBe('{"reason":"done"}');
    }
    expect(p.state).toMatchObject({ runs: 1, refused: 0, reason: undefined });
    const later = await get(b.url, location);
    await settles(later.rest(), 'a new GET');
    expect(tokens(later.events)).toEqual(all);
  });

  it('Redis restarted empty: the reply ends as failed (the producer stopped), readers settle, its URL answers 404', async () => {
    const { redis, p, a, b, onA, onB, location } = await twoReaders(false);
    await redis.kill();
    await redis.start();
    p.go();
    // The producer is stopped: its log lost its start, so nothing it sends can be resumed.
    await settles(p.state.finished.promise, 'the producer');
    expect(isReplyStoppedError(p.state.reason)).toBe(true);
    expect(p.state.reason).toMatchObject({ reason: 'failed' });
    expect(p.state.runs).toBe(1);
    await vi.waitFor(() => expect(a.replies.metrics().running).toBe(0));
    expect(a.replies.metrics().ended.failed).toBe(1);
    // Every reader settles: an end, or a retry hint to come back (and then a 404).
    for (const stream of [onA, onB]) {
      await settles(stream.rest(), 'a reader');
      expectInOrderOnce(stream);
      const last = stream.events.at(-1);
      expect(last?.event === 'end' ? last.data === FAILED : stream.retries.length === 1).toBe(true);
      for (const app of [a, b]) {
        expect((await get(app.url, location, stream.lastEventId)).status).toBe(404);
      }
    }
    for (const app of [a, b]) expect((await get(app.url, location)).status).toBe(404);
  });

  it('Redis down longer than commandTimeout: the sends fail, the producer is stopped, readers settle; 503 while down, 404 once back', async () => {
    // A producer that goes on sending (taken ahead, as send does) until its signal aborts.
    const { redis, p, a, b, onA, onB, location } = await twoReaders(false, {}, 2000);
    await redis.kill();
    p.go();
    await settles(p.state.finished.promise, 'the producer');
    expect(p.state.reason).toMatchObject({ name: 'ReplyStoppedError', reason: 'failed' });
    // Nobody can hear from the producer: both instances give up on it and cut their readers with
    // a retry hint (the end cannot be written either).
    for (const stream of [onA, onB]) {
      await settles(stream.rest(), 'a reader');
      expect(tokens(stream.events)).toEqual(['t1', 't2', 't3', 't4', 't5']);
      expect(stream.retries).toHaveLength(1);
    }
    const down = await get(b.url, location, onB.lastEventId);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).not.toBeNull();
    await redis.start();
    await vi.waitFor(async () => expect((await get(b.url, location, onB.lastEventId)).status).toBe(404), {
      timeout: 10_000,
      interval: 50,
    });
    expect((await get(a.url, location)).status).toBe(404);
    expect(a.replies.metrics().ended.failed).toBe(1);
  });

  it('Redis down longer than commandTimeout, back with its data: a GET replays what it kept, then end {producer-lost}', async () => {
    const { redis, p, b, onA, onB, location } = await twoReaders(true, {}, 2000);
    await redis.kill();
    p.go();
    await settles(p.state.finished.promise, 'the producer');
    expect(p.state.reason).toMatchObject({ name: 'ReplyStoppedError', reason: 'failed' });
    for (const stream of [onA, onB]) await settles(stream.rest(), 'a reader');
    await redis.start();
    // Nobody wrote the end (Redis was away): the first reader back finds the producer gone.
    const resumed = await settles(
      vi.waitFor(
        async () => {
          const stream = await get(b.url, location, onB.lastEventId);
          expect(stream.status).toBe(200);
          return stream;
        },
        { timeout: 10_000, interval: 50 },
      ),
      'a resume',
    );
    const events = await settles(resumed.rest(), 'a resume');
    expect(events.map((e) => e.data)).toEqual(['{"reason":"producer-lost"}']);
    const whole = await get(b.url, location);
    expect((await settles(whole.rest(), 'a new GET')).map((e) => e.data)).toEqual([
      't1',
      't2',
      't3',
      't4',
      't5',
      '{"reason":"producer-lost"}',
    ]);
  });
});
