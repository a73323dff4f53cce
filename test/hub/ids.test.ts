import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareStreamIds, createMemoryBroker, isStreamId, StreamIdGenerator } from '../../src/hub/index.js';

const key = (id: string): [bigint, bigint] => {
  const [ms, seq] = id.split('-');
  return [BigInt(ms as string), BigInt(seq as string)];
};

/** compareStreamIds orders every pair of `id`'s ids as their (ms, seq) tuples. */
function expectTupleOrder(id: fc.Arbitrary<string>, params: fc.Parameters<[string, string]>): void {
  fc.assert(
    fc.property(id, id, (a, b) => {
      const [am, as] = key(a);
      const [bm, bs] = key(b);
      const expected = am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
      expect(Math.sign(compareStreamIds(a, b))).toBe(expected);
    }),
    params,
  );
}

describe('stream ids', () => {
  it('accepts <ms>-<seq> and refuses everything else', () => {
    for (const ok of ['0-0', '1700000000000-3', '9999999999999999-9999999999999999'])
      expect(isStreamId(ok)).toBe(true);
    for (const bad of [
      '',
      '1',
      '1-',
      '-1',
      '01-1',
      '1-01',
      'a-1',
      '1-1-1',
      ' 1-1',
      '1-1\n',
      '99999999999999999-0',
    ]) {
      expect(isStreamId(bad)).toBe(false);
    }
  });

  it('compares like the (ms, seq) tuple', () => {
    const part = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 9_999_999_999_999_999n }));
    const id = fc.tuple(part, part).map(([ms, seq]) => `${ms}-${seq}`);
    expectTupleOrder(id, { seed: 42, numRuns: 2000 });
  });

  it("compares like the (ms, seq) tuple around the clock's 13 digits, where equal lengths are compared as text", () => {
    // Milliseconds of 12, 13 and 14 digits and short sequences: many pairs of equal length, with
    // the dash at the 14th character in both, in one, or in neither.
    const ms = fc.oneof(
      fc.bigInt({ min: 999_999_999_990n, max: 1_000_000_000_010n }),
      fc.bigInt({ min: 1_700_000_000_000n, max: 1_700_000_000_020n }),
      fc.bigInt({ min: 9_999_999_999_990n, max: 10_000_000_000_010n }),
    );
    const seq = fc.oneof(fc.bigInt({ min: 0n, max: 12n }), fc.bigInt({ min: 95n, max: 105n }));
    const id = fc.tuple(ms, seq).map(([m, q]) => `${m}-${q}`);
    expectTupleOrder(id, { seed: 7, numRuns: 3000 });
    expect(compareStreamIds('1234567890123-45', '123456789012-345')).toBeGreaterThan(0);
    expect(compareStreamIds('1700000000000-9', '1700000000001-0')).toBeLessThan(0);
  });

  it('hands out strictly increasing ids when the clock stands still or steps back', () => {
    const clock = [1000, 1000, 1000, 999, 500, 1001, 1001, 2000, 1];
    let i = 0;
    const gen = new StreamIdGenerator(() => clock[Math.min(i++, clock.length - 1)] as number);
    const ids = Array.from({ length: 8 }, () => {
      const id = gen.next();
      // Its parts as numbers, as the memory broker packs it.
      expect(`${gen.ms}-${gen.seq}`).toBe(id);
      return id;
    });
    expect(ids).toEqual(['1000-0', '1000-1', '1000-2', '1000-3', '1001-0', '1001-1', '2000-0', '2000-1']);
    for (let k = 1; k < ids.length; k++)
      expect(compareStreamIds(ids[k - 1] as string, ids[k] as string)).toBeLessThan(0);
  });

  it('gives concurrent publishes unique, increasing ids; one id per event across topics', async () => {
    const broker = createMemoryBroker({ history: { maxEvents: 5000 } });
    const ids = await Promise.all(
      Array.from({ length: 2000 }, (_, k) =>
        broker.publish(k % 3 === 0 ? ['a', 'b'] : ['a'], { data: String(k) }),
      ),
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (let k = 1; k < ids.length; k++)
      expect(compareStreamIds(ids[k - 1] as string, ids[k] as string)).toBeLessThan(0);
    const a = await broker.history(['a'], '0-0');
    const b = await broker.history(['b'], '0-0');
    expect(b.events.map((e) => e.id)).toEqual(ids.filter((_, k) => k % 3 === 0));
    expect(a.events.filter((e) => e.topics.includes('b')).map((e) => e.id)).toEqual(
      b.events.map((e) => e.id),
    );
  });
});
