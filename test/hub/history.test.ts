import { describe, expect, it } from 'vitest';
import { compareStreamIds, createMemoryBroker, mergeById, TopicHistory } from '../../src/hub/index.js';

const ev = (id: string) => ({ id });

describe('TopicHistory', () => {
  it('keeps the newest maxEvents and raises the floor to what fell out', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 3 });
    for (let i = 1; i <= 5; i++) h.push(ev(`${i}-0`), 0);
    expect(h.size).toBe(3);
    expect(h.floor).toBe('2-0');
    expect(h.after('0-0').map((e) => e.id)).toEqual(['3-0', '4-0', '5-0']);
    expect(h.after('3-0').map((e) => e.id)).toEqual(['4-0', '5-0']);
    expect(h.after('3-5').map((e) => e.id)).toEqual(['4-0', '5-0']);
    expect(h.after('5-0')).toEqual([]);
    expect(h.after('3-0', 1).map((e) => e.id)).toEqual(['4-0']);
    expect(h.isTruncatedAfter('1-9')).toBe(true);
    expect(h.isTruncatedAfter('2-0')).toBe(false);
  });

  it('expires by age', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 10, maxAgeMs: 100 });
    h.push(ev('1-0'), 0);
    h.push(ev('2-0'), 50);
    h.push(ev('3-0'), 120);
    h.expire(160);
    expect(h.after('0-0').map((e) => e.id)).toEqual(['3-0']);
    expect(h.floor).toBe('2-0');
  });

  it('keeps nothing with maxEvents 0, so every resume is truncated', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 0 });
    h.push(ev('1-0'), 0);
    expect(h.size).toBe(0);
    expect(h.isTruncatedAfter('0-5')).toBe(true);
    expect(h.isTruncatedAfter('1-0')).toBe(false);
  });

  it('refuses bad bounds', () => {
    expect(() => new TopicHistory(compareStreamIds, '0-0', { maxEvents: -1 })).toThrow(RangeError);
    expect(() => new TopicHistory(compareStreamIds, '0-0', { maxAgeMs: 0 })).toThrow(RangeError);
  });
});

describe('mergeById', () => {
  it('merges in id order and keeps an event on several topics once', () => {
    const a = ['1-0', '3-0', '5-0', '7-0'].map(ev);
    const b = ['2-0', '3-0', '6-0', '7-0'].map(ev);
    expect(mergeById([a, b], compareStreamIds).map((e) => e.id)).toEqual([
      '1-0',
      '2-0',
      '3-0',
      '5-0',
      '6-0',
      '7-0',
    ]);
    expect(mergeById([a, b], compareStreamIds, 3).map((e) => e.id)).toEqual(['1-0', '2-0', '3-0']);
    expect(mergeById([[], a], compareStreamIds)).toBe(a);
  });
});

describe('memory broker history', () => {
  it('says truncated for an id older than history, an id from before it started, or a bad id', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ history: { maxEvents: 2 }, now: () => now });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      now += 1;
      ids.push(await broker.publish(['t'], { data: String(i) }));
    }
    const ok = await broker.history(['t'], ids[1] as string);
    expect(ok.truncated).toBe(false);
    expect(ok.events.map((e) => e.data)).toEqual(['2', '3']);
    const old = await broker.history(['t'], ids[0] as string);
    expect(old.truncated).toBe(true);
    expect(old.head).toBe(ids[3]);
    expect((await broker.history(['t'], '999999-0')).truncated).toBe(true); // before this broker began
    expect((await broker.history(['t'], 'not-an-id')).truncated).toBe(true);
    expect((await broker.history(['never'], ids[0] as string)).truncated).toBe(false);
  });

  it('pages with limit and says when there is more', async () => {
    const broker = createMemoryBroker();
    const first = await broker.publish(['t'], { data: '0' });
    for (let i = 1; i < 10; i++) await broker.publish(i % 2 ? ['t', 'u'] : ['u'], { data: String(i) });
    const page = await broker.history(['t', 'u'], first, { limit: 4 });
    expect(page.more).toBe(true);
    expect(page.events.map((e) => e.data)).toEqual(['1', '2', '3', '4']);
    const rest = await broker.history(['t', 'u'], page.events[3]?.id as string, { limit: 5 });
    expect(rest.more).toBe(false);
    expect(rest.events.map((e) => e.data)).toEqual(['5', '6', '7', '8', '9']);
  });

  it('drops the least recently published topic past maxTopics, and resumes on it reset', async () => {
    const broker = createMemoryBroker({ maxTopics: 2 });
    const a = await broker.publish(['a'], { data: 'a' });
    await broker.publish(['b'], { data: 'b' });
    const before = await broker.publish(['a'], { data: 'a2' });
    await broker.publish(['c'], { data: 'c' }); // b is dropped
    expect((await broker.history(['b'], a)).truncated).toBe(true);
    expect((await broker.history(['a'], a)).events.map((e) => e.id)).toEqual([before]);
  });

  it('delivers live events only for followed topics, once per event', async () => {
    const broker = createMemoryBroker();
    const seen: string[] = [];
    const feed = broker.subscribe({
      onEvent: (e) => seen.push(e.data),
      onError: (e) => {
        throw e;
      },
    });
    await feed.follow(['a', 'b']);
    await broker.publish(['a', 'b'], { data: 'ab' });
    await broker.publish(['c'], { data: 'c' });
    await feed.unfollow(['a']);
    await broker.publish(['a'], { data: 'a' });
    await broker.publish(['b'], { data: 'b' });
    await feed.close();
    await broker.publish(['b'], { data: 'late' });
    expect(seen).toEqual(['ab', 'b']);
    await broker.close();
    await expect(broker.publish(['b'], { data: 'x' })).rejects.toMatchObject({
      name: 'BrokerError',
      type: 'closed',
    });
  });
});
