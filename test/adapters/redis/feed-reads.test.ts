// The live feed's reads, one at a time: a read bounded by `readCount`, a listener that throws,
// a topic followed twice, a second feed on one broker, a follow after close, a follow Redis
// does not answer.
import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../../src/hub/index.js';
import { isBrokerError } from '../../../src/hub/index.js';
import { REDIS_URL, redisAvailable, redisBrokers, startRedisProxy } from '../../helpers/redis.js';

const available = await redisAvailable();
const { broker, freshPrefix } = redisBrokers();

/** Polls `condition` every 10 ms for at most 5 s (the assertions after it say what is missing). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Publishes every `[topics, data]` in one turn of the event loop (one script call); their ids, in order. */
function publishTogether(
  pub: { publish(topics: readonly string[], init: { data: string }): Promise<string> },
  events: readonly (readonly [readonly string[], string])[],
): Promise<string[]> {
  return Promise.all(events.map(([topics, data]) => pub.publish(topics, { data })));
}

describe.skipIf(!available)('Redis broker live feed, reads bounded by readCount', () => {
  it('a stream with more than readCount new events is read again: all delivered once, in order', async () => {
    const p = freshPrefix('count');
    const pub = broker(p);
    const sub = broker(p, { readCount: 5 });
    const got: BrokerEvent[] = [];
    const errors: unknown[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: (e) => errors.push(e) });
    await feed.follow(['a']);
    const ids = await publishTogether(
      pub,
      Array.from({ length: 12 }, (_, i) => [['a'], `d${i}`] as const),
    );
    await until(() => got.length >= 12);
    expect(got.map((e) => e.id)).toEqual(ids);
    expect(errors).toEqual([]);
    await feed.close();
  });

  it('an event on two streams, read from one and later from the other, is delivered once', async () => {
    const p = freshPrefix('dedup');
    const pub = broker(p);
    const sub = broker(p, { readCount: 3 });
    const got: BrokerEvent[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: () => {} });
    await feed.follow(['a', 'b']);
    // The first read gives a0 a1 a2 from a (a full COUNT: only ids up to a2 are known complete)
    // and 'both' from b; 'both' comes again in the next read of a, with a3 before it, and b,
    // not read again then, still has it after its cursor when 'b only' rings.
    const ids = await publishTogether(pub, [
      [['a'], 'a0'],
      [['a'], 'a1'],
      [['a'], 'a2'],
      [['a'], 'a3'],
      [['a', 'b'], 'both'],
      [['a'], 'a4'],
    ]);
    await until(() => got.length >= 6);
    const last = await pub.publish(['b'], { data: 'b only' });
    await until(() => got.some((e) => e.id === last));
    expect(got.map((e) => e.id)).toEqual([...ids, last]);
    await feed.close();
  });

  it('an event held back past a full stream, on a stream not full, is read again with it: not lost', async () => {
    const p = freshPrefix('held');
    const pub = broker(p);
    const sub = broker(p, { readCount: 3 });
    const got: BrokerEvent[] = [];
    const errors: unknown[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: (e) => errors.push(e) });
    await feed.follow(['a', 'b']);
    // The first read gives a0 a1 a2 from a (a full COUNT: only ids up to a2 are known complete)
    // and b0 from b, held back. The next read of a gives a3, past b0: b0 must come before it.
    const ids = await publishTogether(pub, [
      [['a'], 'a0'],
      [['a'], 'a1'],
      [['a'], 'a2'],
      [['b'], 'b0'],
      [['a'], 'a3'],
    ]);
    await until(() => got.length >= 5);
    const later = await pub.publish(['b'], { data: 'b later' });
    await until(() => got.some((e) => e.id === later));
    expect(got.map((e) => e.data)).toEqual(['a0', 'a1', 'a2', 'b0', 'a3', 'b later']);
    expect(got.map((e) => e.id)).toEqual([...ids, later]);
    expect(errors).toEqual([]);
    await feed.close();
  });
});

describe.skipIf(!available)('Redis broker live feed, its API', () => {
  it('a listener that throws is told (feed-failed, with the cause) and still gets the rest of the read', async () => {
    const p = freshPrefix('throws');
    const pub = broker(p);
    const sub = broker(p);
    const got: string[] = [];
    const errors: unknown[] = [];
    const boom = new Error('listener bug');
    const feed = sub.subscribe({
      onEvent: (e) => {
        got.push(e.data);
        if (e.data === 'first') throw boom;
      },
      onError: (e) => errors.push(e),
    });
    await feed.follow(['t']);
    await publishTogether(pub, [
      [['t'], 'first'],
      [['t'], 'second'],
      [['t'], 'third'],
    ]);
    await until(() => got.length >= 3);
    expect(got).toEqual(['first', 'second', 'third']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'BrokerError', type: 'feed-failed', cause: boom });
    await feed.close();
  });

  it('following a topic it already follows resolves, and its events still come once', async () => {
    const p = freshPrefix('twice');
    const pub = broker(p);
    const sub = broker(p);
    const got: string[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e.data), onError: () => {} });
    await feed.follow(['t']);
    await feed.follow(['t']);
    await feed.follow(['t', 'u']);
    await pub.publish(['t'], { data: 'one' });
    await pub.publish(['u', 't'], { data: 'two' });
    await until(() => got.length >= 2);
    expect(got).toEqual(['one', 'two']);
    await feed.close();
  });

  it('a broker has one feed: a second subscribe throws feed-failed, the first goes on', async () => {
    const p = freshPrefix('one-feed');
    const pub = broker(p);
    const sub = broker(p);
    const got: string[] = [];
    const second: string[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e.data), onError: () => {} });
    let error: unknown;
    try {
      sub.subscribe({ onEvent: (e) => second.push(e.data), onError: () => {} });
    } catch (e) {
      error = e;
    }
    expect(isBrokerError(error)).toBe(true);
    expect(error).toMatchObject({ type: 'feed-failed' });
    await feed.follow(['t']);
    await pub.publish(['t'], { data: 'x' });
    await until(() => got.length >= 1);
    expect(got).toEqual(['x']);
    expect(second).toEqual([]);
    await feed.close();
  });

  it('a follow once the broker is closed rejects at once with a BrokerError of type closed', async () => {
    const sub = broker(freshPrefix('follow-closed'), { commandTimeout: 5000 });
    await sub.ready();
    const feed = sub.subscribe({ onEvent() {}, onError() {} });
    await sub.close();
    const started = Date.now();
    const error = await feed.follow(['t']).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBrokerError(error)).toBe(true);
    expect(error).toMatchObject({ type: 'closed' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
  it('a follow whose subscription Redis does not answer rejects with feed-failed after commandTimeout', async () => {
    const proxy = await startRedisProxy(REDIS_URL);
    try {
      const sub = broker(freshPrefix('no-answer'), { url: proxy.url, commandTimeout: 300 });
      await sub.ready();
      const feed = sub.subscribe({ onEvent() {}, onError() {} });
      proxy.hold();
      const started = Date.now();
      const error = await Promise.race([
        feed.follow(['t']).then(
          () => null,
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(() => r('still waiting after 3 s'), 3000)),
      ]);
      expect(isBrokerError(error)).toBe(true);
      expect(error).toMatchObject({ type: 'feed-failed' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await proxy.close();
    }
  });
});
