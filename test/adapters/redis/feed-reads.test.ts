// The live feed's reads, one at a time: a read bounded by `readCount`.
import { describe, expect, it } from 'vitest';
import type { BrokerEvent } from '../../../src/hub/index.js';
import { redisAvailable, redisBrokers } from '../../helpers/redis.js';

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
});
