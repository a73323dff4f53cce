import { describe, expect, it } from 'vitest';
import { redisAvailable, redisBrokers } from '../../helpers/redis.js';

const available = await redisAvailable();

/** Polls `check` every 50 ms until it holds; fails after 10 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const { broker, freshPrefix } = redisBrokers();

describe.skipIf(!available)('Redis broker claim() and expire()', () => {
  it('claims a name once across instances: every concurrent claim resolves with the winner', async () => {
    const p = freshPrefix('claim');
    const a = broker(p);
    const b = broker(p);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).claim?.('key', `reply-${i}`, 60_000)),
    );
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toMatch(/^reply-\d$/);
  });

  it('forgets a claim after its ttl', async () => {
    const a = broker(freshPrefix('claim-ttl'));
    // A ttl long enough that a loaded machine does not expire it between two calls; the end
    // is waited for by polling (bounded), not by a guess at how long Redis takes.
    expect(await a.claim?.('k', 'first', 1_000)).toBe('first');
    expect(await a.claim?.('k', 'second', 1_000)).toBe('first');
    await until(async () => (await a.claim?.('k', 'third', 1_000)) === 'third');
  });

  it('drops topics after the ttl (0: at once); other topics of the same events keep them', async () => {
    const a = broker(freshPrefix('expire'));
    await a.publish(['log', 'other'], { data: 'a' });
    await a.publish(['gone'], { data: 'b' });
    await a.expire?.(['log'], 1_000);
    await a.expire?.(['gone'], 0);
    expect((await a.history(['gone'], '0-0')).events).toEqual([]);
    expect((await a.history(['log'], '0-0')).events.map((e) => e.data)).toEqual(['a']);
    await until(async () => (await a.history(['log'], '0-0')).events.length === 0);
    expect((await a.history(['other'], '0-0')).events.map((e) => e.data)).toEqual(['a']);
  });
});
