import { describe, expect, it } from 'vitest';
import { redisAvailable, redisBrokers } from '../../helpers/redis.js';

const available = await redisAvailable();
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
    expect(await a.claim?.('k', 'first', 50)).toBe('first');
    expect(await a.claim?.('k', 'second', 50)).toBe('first');
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await a.claim?.('k', 'third', 50)).toBe('third');
  });

  it('drops topics after the ttl (0: at once); other topics of the same events keep them', async () => {
    const a = broker(freshPrefix('expire'));
    await a.publish(['log', 'other'], { data: 'a' });
    await a.publish(['gone'], { data: 'b' });
    await a.expire?.(['log'], 50);
    await a.expire?.(['gone'], 0);
    expect((await a.history(['gone'], '0-0')).events).toEqual([]);
    expect((await a.history(['log'], '0-0')).events.map((e) => e.data)).toEqual(['a']);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect((await a.history(['log'], '0-0')).events).toEqual([]);
    expect((await a.history(['other'], '0-0')).events.map((e) => e.data)).toEqual(['a']);
  });
});
