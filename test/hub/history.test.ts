import { describe, expect, it } from 'vitest';
import { publishNowOf } from '../../src/hub/broker.js';
import {
  compareStreamIds,
  createHub,
  createMemoryBroker,
  DEFAULT_HISTORY_MAX_BYTES,
  DEFAULT_HISTORY_MAX_TOTAL_BYTES,
  HISTORY_EVENT_OVERHEAD_BYTES,
  historyEventBytes,
  mergeById,
  RESET_EVENT,
  RESUME_HEADER,
  TopicHistory,
} from '../../src/hub/index.js';
import { readEvents } from './helpers.js';

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

  it('take() hands over every event and leaves no slots; pushes afterwards grow the ring again', () => {
    const a = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 100 });
    const b = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 100 });
    for (let i = 1; i <= 5; i++) {
      a.push(ev(`${i}-0`), i, 10);
      b.push(ev(`${i}-1`), i, 10);
    }
    expect(a.take().events.map((e) => e.id)).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0']);
    expect(b.take().sizes).toEqual([10, 10, 10, 10, 10]);
    expect([a.size, a.bytes, a.lastId, a.after('0-0'), a.floor]).toEqual([0, 0, undefined, [], '0-0']);
    a.expire(1_000);
    expect(a.evict(ev('1-0'))).toBe(false);
    // Both emptied histories take events again, each its own (through several resizes).
    for (let i = 6; i <= 30; i++) a.push(ev(`${i}-0`), i, 1);
    b.push(ev('9-9'), 9, 1);
    expect(a.after('0-0').map((e) => e.id)).toEqual(Array.from({ length: 25 }, (_, k) => `${k + 6}-0`));
    expect(b.after('0-0').map((e) => e.id)).toEqual(['9-9']);
    expect([a.size, a.bytes, b.size, b.bytes]).toEqual([25, 25, 1, 1]);
    a.clear();
    expect([a.size, a.floor]).toEqual([0, '30-0']);
  });

  it('expires by age', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 10, maxAge: 100 });
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

  it('keeps at most maxBytes, oldest out first, and raises the floor to what fell out', () => {
    const dropped: string[] = [];
    const h = new TopicHistory(compareStreamIds, '0-0', { maxBytes: 100 }, (e) => dropped.push(e.id));
    h.push(ev('1-0'), 0, 40);
    h.push(ev('2-0'), 0, 40);
    expect(h.bytes).toBe(80);
    h.push(ev('3-0'), 0, 40); // 120 > 100: 1-0 goes
    expect(h.after('0-0').map((e) => e.id)).toEqual(['2-0', '3-0']);
    expect(h.bytes).toBe(80);
    expect(h.floor).toBe('1-0');
    expect(h.isTruncatedAfter('0-5')).toBe(true);
    expect(h.isTruncatedAfter('1-0')).toBe(false);
    h.push(ev('4-0'), 0, 90); // needs both out
    expect(h.after('0-0').map((e) => e.id)).toEqual(['4-0']);
    expect(h.floor).toBe('3-0');
    expect(dropped).toEqual(['1-0', '2-0', '3-0']);
  });

  it('keeps the newest event even when it alone is larger than maxBytes, until the next one', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxBytes: 100 });
    h.push(ev('1-0'), 0, 30);
    h.push(ev('2-0'), 0, 30);
    h.push(ev('3-0'), 0, 500);
    expect(h.after('0-0').map((e) => e.id)).toEqual(['3-0']);
    expect(h.bytes).toBe(500);
    expect(h.floor).toBe('2-0'); // a resume from 2-0 still gets 3-0, with nothing missing
    expect(h.isTruncatedAfter('2-0')).toBe(false);
    h.push(ev('4-0'), 0, 10);
    expect(h.after('0-0').map((e) => e.id)).toEqual(['4-0']);
    expect(h.floor).toBe('3-0');
    expect(h.bytes).toBe(10);
  });

  it('counts an event by historyEventBytes when no size is given, and bytes fall out by age too', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxAge: 100 });
    const a = { id: '1-0', data: 'x'.repeat(50), topics: ['t'] };
    const b = { id: '2-0', data: 'é', event: 'e' };
    h.push(a, 0);
    h.push(b, 150);
    expect(h.bytes).toBe(historyEventBytes(a) + historyEventBytes(b));
    h.expire(160);
    expect(h.bytes).toBe(historyEventBytes(b));
  });

  it('evicts only its oldest event, and clear() raises the floor to the newest', () => {
    const dropped: string[] = [];
    const h = new TopicHistory(compareStreamIds, '0-0', {}, (e) => dropped.push(e.id));
    const one = ev('1-0');
    const two = ev('2-0');
    h.push(one, 0, 1);
    h.push(two, 0, 1);
    expect(h.evict(two)).toBe(false);
    expect(h.evict(one)).toBe(true);
    expect(h.floor).toBe('1-0');
    h.push(ev('3-0'), 0, 1);
    h.clear();
    expect(h.size).toBe(0);
    expect(h.bytes).toBe(0);
    expect(h.floor).toBe('3-0');
    expect(dropped).toEqual(['1-0', '2-0', '3-0']);
  });

  it('gives back the slots of events that fell out', async () => {
    // Heap plus array buffers once collected (freeing array buffers can lag a collection).
    const settled = async () => {
      for (let i = 0; i < 3; i++) {
        (globalThis.gc as () => void)();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const h = new TopicHistory(compareStreamIds, '0-0', {
      maxEvents: 300_000,
      maxBytes: Number.POSITIVE_INFINITY,
    });
    const events = Array.from({ length: 200_000 }, (_, i) => ev(`${i + 1}-0`));
    for (const e of events) h.push(e, 0, 1);
    const full = await settled();
    for (let i = 0; i < events.length - 1; i++) h.evict(events[i] as { id: string });
    const emptied = await settled();
    // 262,144 slots (an array of references and two Float64Arrays: 6 MiB) shrink to a few; the
    // events are still referenced here, so only the ring's own storage accounts for the drop.
    expect(full - emptied).toBeGreaterThan(4 * 1024 * 1024);
    expect(h.after('0-0')).toEqual([events[events.length - 1]]);
  });

  it('refuses bad bounds', () => {
    expect(() => new TopicHistory(compareStreamIds, '0-0', { maxEvents: -1 })).toThrow(RangeError);
    expect(() => new TopicHistory(compareStreamIds, '0-0', { maxAge: 0 })).toThrow(RangeError);
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => new TopicHistory(compareStreamIds, '0-0', { maxBytes: bad })).toThrow(RangeError);
      expect(() => createMemoryBroker({ history: { maxTotalBytes: bad } })).toThrow(RangeError);
    }
    expect(() => createMemoryBroker({ history: { maxBytes: 0, maxTotalBytes: Infinity } })).not.toThrow();
  });
});

describe('historyEventBytes', () => {
  it('is the UTF-8 length of data, event, id and topics plus a fixed overhead', () => {
    expect(historyEventBytes({ id: '1-0', data: 'héllo', topics: ['news'] })).toBe(3 + 6 + 4 + 128);
    expect(HISTORY_EVENT_OVERHEAD_BYTES).toBe(128);
    const utf8 = (s: string) => new TextEncoder().encode(s).length;
    // Long texts cross the counter's chunks; astral characters and lone surrogates at every offset.
    const samples = [
      '',
      'a',
      '\ud800',
      'x\udc00y',
      '😀',
      'é€😀a'.repeat(30_000),
      `${'a'.repeat(65_535)}😀${'b'.repeat(10)}`,
      `${'😀'.repeat(40_000)}\ud83d`,
      '\u07ff\u0800\uffff'.repeat(50_000),
    ];
    for (const data of samples) {
      for (const event of [undefined, 'tÿpe']) {
        const e = { id: '17-3', data, event, topics: ['room\u00e9', '😀'] };
        expect(historyEventBytes(e)).toBe(
          HISTORY_EVENT_OVERHEAD_BYTES + utf8(data) + utf8(event ?? '') + 4 + utf8('room\u00e9') + 4,
        );
      }
    }
  });
});

describe('TopicHistory.lastId', () => {
  it('is the newest event kept, undefined while none is', () => {
    const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 2 });
    expect(h.lastId).toBeUndefined();
    h.push(ev('1-0'), 0);
    expect(h.lastId).toBe('1-0');
    h.push(ev('2-0'), 0);
    h.push(ev('3-0'), 0); // 1-0 falls out
    expect(h.lastId).toBe('3-0');
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

  it('holds to the limit when only one list has events', () => {
    const a = ['1-0', '3-0', '5-0'].map(ev);
    expect(mergeById([[], a], compareStreamIds, 2).map((e) => e.id)).toEqual(['1-0', '3-0']);
    expect(mergeById([a], compareStreamIds, 3)).toBe(a);
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

  it('hands out an event with its four fields only: what it keeps for its bounds is not in a copy, a spread or its JSON', async () => {
    const broker = createMemoryBroker();
    const seen: unknown[] = [];
    const feed = broker.subscribe({ onEvent: (e) => seen.push(e), onError: () => {} });
    await feed.follow(['t']);
    await broker.publish(['t'], { data: 'a' });
    const id = await broker.publish(['t'], { event: 'x', data: 'b' });
    const [first, event] = (await broker.history(['t'], '0-0')).events;
    expect(seen[1]).toBe(event); // the same object as the feed got
    expect(Object.keys(event as object)).toEqual(['id', 'topics', 'event', 'data']);
    expect(JSON.parse(JSON.stringify(event))).toEqual({ id, topics: ['t'], event: 'x', data: 'b' });
    expect({ ...first }).toEqual({ id: first?.id, topics: ['t'], event: undefined, data: 'a' });
    await feed.close();
  });

  it("the synchronous publish's memo: a topic dropped, or past its expiry, since the last publish is looked up again, never written to", async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ maxTopics: 1, now: () => now });
    const publishNow = publishNowOf(broker) as NonNullable<ReturnType<typeof publishNowOf>>;
    const log = Object.freeze(['log']);
    const memo = {};
    const first = publishNow(log, { data: '1' }, memo).id;
    expect(publishNow(log, { data: '2' }, memo).data).toBe('2');
    await broker.publish(['other'], { data: 'x' }); // 'log' is dropped (maxTopics 1)
    const third = publishNow(log, { data: '3' }, memo).id;
    const page = await broker.history(['log'], first);
    expect(page.truncated).toBe(true); // '2' fell out with the dropped history
    expect(page.events.map((e) => e.id)).toEqual([third]);
    await broker.expire?.(['log'], 10);
    now += 10; // past its expiry: the next publish starts a new history
    const fourth = publishNow(log, { data: '4' }, memo).id;
    expect((await broker.history(['log'], third)).events.map((e) => e.id)).toEqual([fourth]);
    expect(broker.historyBytes()).toBe(historyEventBytes({ id: fourth, data: '4', topics: log }));
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

  it('one publish to more topics than maxTopics: its first topics are dropped by its last, and keep nothing of it', async () => {
    const broker = createMemoryBroker({ maxTopics: 2, history: { maxEvents: 1 } });
    const start = await broker.publish(['z'], { data: 'z' });
    const id = await broker.publish(['a', 'b', 'c'], { data: 'abc' });
    expect((await broker.history(['a'], start)).truncated).toBe(true);
    expect((await broker.history(['b'], start)).events.map((e) => e.id)).toEqual([id]);
    expect((await broker.history(['c'], start)).events.map((e) => e.id)).toEqual([id]);
    // Counted once, for the two histories that hold it; nothing is left of 'z' or 'a'.
    expect(broker.historyBytes()).toBe(historyEventBytes({ id, data: 'abc', topics: ['a', 'b', 'c'] }));
    // Once 'b' and 'c' let it go, nothing holds it: its bytes are given back.
    const b = await broker.publish(['b'], { data: 'b' });
    const c = await broker.publish(['c'], { data: 'c' });
    expect(broker.historyBytes()).toBe(
      historyEventBytes({ id: b, data: 'b', topics: ['b'] }) +
        historyEventBytes({ id: c, data: 'c', topics: ['c'] }),
    );
  });

  it('keeps the recency order right after a topic is dropped by its expiry', async () => {
    const broker = createMemoryBroker({ maxTopics: 2 });
    const start = await broker.publish(['a'], { data: 'a' });
    await broker.publish(['b'], { data: 'b' });
    await broker.expire?.(['a'], 0); // a is dropped at once
    await broker.publish(['c'], { data: 'c' }); // two topics: nothing more to drop
    const b2 = await broker.publish(['b'], { data: 'b2' }); // b is now the most recent
    await broker.publish(['d'], { data: 'd' }); // c is the least recent: dropped
    expect((await broker.history(['c'], start)).truncated).toBe(true);
    expect((await broker.history(['b'], start)).events.map((e) => e.data)).toEqual(['b', 'b2']);
    expect((await broker.history(['d'], b2)).events.map((e) => e.data)).toEqual(['d']);
  });

  it('keeps a frozen topics array as is, and copies any other', async () => {
    const broker = createMemoryBroker();
    const seen: (readonly string[])[] = [];
    const feed = broker.subscribe({ onEvent: (e) => seen.push(e.topics), onError: () => {} });
    await feed.follow(['a', 'b']);
    const frozen = Object.freeze(['a']);
    await broker.publish(frozen, { data: '1' });
    const open = ['b'];
    await broker.publish(open, { data: '2' });
    open[0] = 'x'; // the caller changes its array afterwards: the event's topics do not change
    expect(seen[0]).toBe(frozen);
    expect(seen[1]).not.toBe(open);
    const { events } = await broker.history(['b'], '0-0');
    expect(events.map((e) => e.topics)).toEqual([['b']]);
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

describe('memory broker feeds', () => {
  it('reports a feed listener that throws to its onError as feed-failed; the publish and other feeds go on', async () => {
    const broker = createMemoryBroker();
    const thrown = new Error('listener bug');
    const errors: unknown[] = [];
    const bad = broker.subscribe({
      onEvent: () => {
        throw thrown;
      },
      onError: (error) => errors.push(error),
    });
    const seen: string[] = [];
    const good = broker.subscribe({ onEvent: (e) => seen.push(e.id), onError: () => {} });
    await bad.follow(['t']);
    await good.follow(['t']);
    const id = await broker.publish(['t'], { data: 'x' });
    expect(seen).toEqual([id]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ name: 'BrokerError', type: 'feed-failed', cause: thrown });
    await broker.close();
  });
});

describe('memory broker history in bytes', () => {
  const big = (n: number, tag = '') => `${tag}${'x'.repeat(n)}`;

  /**
   * A broker on a clock that ticks on every call, and its first id, `start`: every event is
   * after it, and the broker knows nothing is missing after it (what resuming "from before
   * everything" means).
   */
  async function brokerWith(options: Parameters<typeof createMemoryBroker>[0] = {}) {
    let time = 1_000_000;
    const broker = createMemoryBroker({ ...options, now: () => time++ });
    const start = (await broker.history([], '0-0')).head;
    return { broker, start };
  }

  it('bounds each topic in bytes; a resume from before what fell out is truncated', async () => {
    const { broker, start } = await brokerWith({ history: { maxBytes: 3000 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await broker.publish(['t'], { data: big(1000, String(i)) }));
    const other = await broker.publish(['u'], { data: 'u' });
    const kept = await broker.history(['t'], ids[2] as string);
    expect(kept.truncated).toBe(false);
    expect(kept.events.map((e) => e.id)).toEqual([ids[3], ids[4]]);
    const past = await broker.history(['t'], ids[1] as string);
    expect(past.truncated).toBe(true);
    expect(past.events.map((e) => e.id)).toEqual([ids[3], ids[4]]);
    expect((await broker.history(['t'], start)).truncated).toBe(true);
    expect((await broker.history(['u'], start)).events.map((e) => e.id)).toEqual([other]);
    expect((await broker.history(['u'], start)).truncated).toBe(false);
    const [e3, e4, e5] = [...kept.events, ...(await broker.history(['u'], start)).events];
    expect(broker.historyBytes()).toBe(
      historyEventBytes(e3 as never) + historyEventBytes(e4 as never) + historyEventBytes(e5 as never),
    );
  });

  it('counts an event on several topics with multi-byte names and a type as historyEventBytes does', async () => {
    const broker = createMemoryBroker();
    const topics = ['naïve-tôpic-with-a-long-name-ünïcode', 'b', '日本語のトピック名はとても長い'];
    await broker.publish(topics, { event: 'tÿpe', data: 'héllo\nwörld' });
    await broker.publish(topics, { data: 'again' }); // the names' lengths, now known, count the same
    const { events } = await broker.history(['b'], '0-0');
    expect(events).toHaveLength(2);
    expect(broker.historyBytes()).toBe(
      historyEventBytes(events[0] as never) + historyEventBytes(events[1] as never),
    );
  });

  it('keeps an event larger than the topic bound until the next one, then resumes past it reset', async () => {
    const { broker, start } = await brokerWith({ history: { maxBytes: 1000 } });
    const first = await broker.publish(['t'], { data: 'a' });
    const huge = await broker.publish(['t'], { data: big(5000) });
    const page = await broker.history(['t'], first);
    expect(page).toMatchObject({ truncated: false, events: [{ id: huge }] });
    expect((await broker.history(['t'], start)).truncated).toBe(true); // `first` fell out
    const after = await broker.publish(['t'], { data: 'b' });
    expect((await broker.history(['t'], first)).truncated).toBe(true); // `huge` fell out
    expect(await broker.history(['t'], huge)).toMatchObject({ truncated: false, events: [{ id: after }] });
  });

  it('bounds all topics together: the oldest events go from every topic they were in', async () => {
    const { broker, start } = await brokerWith({ history: { maxTotalBytes: 3500 } });
    const e1 = await broker.publish(['a', 'b'], { data: big(1000) });
    const one = (await broker.history(['a'], start)).events[0];
    // Once in all, whatever the number of its topics.
    expect(broker.historyBytes()).toBe(historyEventBytes(one as never));
    const e2 = await broker.publish(['c'], { data: big(1000) });
    const e3 = await broker.publish(['a'], { data: big(1000) });
    const e4 = await broker.publish(['c'], { data: big(1000) }); // 4 events > 3500: e1 goes
    expect(broker.historyBytes()).toBeLessThanOrEqual(3500);
    for (const topic of ['a', 'b']) {
      expect((await broker.history([topic], start)).truncated).toBe(true);
      expect((await broker.history([topic], e1)).truncated).toBe(false);
    }
    expect((await broker.history(['a'], e1)).events.map((e) => e.id)).toEqual([e3]);
    expect((await broker.history(['b'], e1)).events).toEqual([]);
    expect(await broker.history(['c'], start)).toMatchObject({
      truncated: false,
      events: [{ id: e2 }, { id: e4 }],
    });
    expect((await broker.history(['a', 'c'], start)).truncated).toBe(true);
  });

  it('keeps nothing of an event larger than the bound in all, and says so on resume', async () => {
    const { broker, start } = await brokerWith({ history: { maxTotalBytes: 1000 } });
    const before = await broker.publish(['t'], { data: 'a' });
    const seen: string[] = [];
    const feed = broker.subscribe({ onEvent: (e) => seen.push(e.id), onError: () => {} });
    await feed.follow(['t', 'u']);
    const huge = await broker.publish(['t', 'u'], { data: big(2000) });
    expect(seen).toEqual([huge]); // live delivery does not depend on history
    expect(broker.historyBytes()).toBe(0);
    for (const topic of ['t', 'u']) {
      expect(await broker.history([topic], before)).toMatchObject({ truncated: true, events: [] });
    }
    expect((await broker.history(['t'], start)).truncated).toBe(true);
    const next = await broker.publish(['t'], { data: 'b' });
    expect(await broker.history(['t'], huge)).toMatchObject({ truncated: false, events: [{ id: next }] });
  });

  it('gives back the bytes of events that fall out by count, by age, or with a dropped topic', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({
      history: { maxEvents: 2, maxAge: 100 },
      maxTopics: 2,
      now: () => now,
    });
    const bytes = new Map<string, number>();
    const publish = async (topic: string, size: number) => {
      const data = big(size);
      const id = await broker.publish([topic], { data });
      bytes.set(topic + size, historyEventBytes({ id, data, topics: [topic] }));
    };
    const sum = (...keys: string[]) => keys.reduce((n, k) => n + (bytes.get(k) as number), 0);
    await publish('a', 100);
    await publish('a', 200);
    await publish('a', 300); // by count
    expect(broker.historyBytes()).toBe(sum('a200', 'a300'));
    await publish('b', 400);
    await publish('c', 500); // 'a' is dropped
    expect(broker.historyBytes()).toBe(sum('b400', 'c500'));
    now += 50;
    await publish('c', 600);
    now += 60;
    await broker.history(['b', 'c'], '0-0'); // by age: what is older than 100 ms
    expect(broker.historyBytes()).toBe(sum('c600'));
    await broker.close();
    expect(broker.historyBytes()).toBe(0);
  });

  it('holds 3,000 publishes of 60 kB to three topics (and to twelve) within its default bounds', async () => {
    const gc = globalThis.gc as () => void;
    gc();
    const baseline = process.memoryUsage().heapUsed;
    const broker = createMemoryBroker();
    // Distinct flat strings, as request bodies would be (a repeat or a concatenation would share
    // its characters with the others).
    const body = (i: number) => {
      const bytes = new Uint8Array(60_000).fill(0x61);
      bytes.set(new TextEncoder().encode(String(i)));
      return new TextDecoder().decode(bytes);
    };
    for (let i = 0; i < 3000; i++) await broker.publish([`room-${i % 3}`], { data: body(i) });
    // The bound per topic holds: 3 x 8 MiB (without byte bounds: 3,000 x 60 kB = 172 MiB).
    expect(broker.historyBytes()).toBeLessThanOrEqual(3 * DEFAULT_HISTORY_MAX_BYTES);
    expect(broker.historyBytes()).toBeGreaterThan(3 * DEFAULT_HISTORY_MAX_BYTES - 3 * 61_000);
    for (let i = 0; i < 3000; i++) await broker.publish([`room-${i % 12}`], { data: body(i) });
    // Twelve topics of 8 MiB would be 96 MiB: the bound in all holds instead.
    expect(broker.historyBytes()).toBeLessThanOrEqual(DEFAULT_HISTORY_MAX_TOTAL_BYTES);
    expect(broker.historyBytes()).toBeGreaterThan(DEFAULT_HISTORY_MAX_TOTAL_BYTES - 61_000);
    gc();
    const grown = process.memoryUsage().heapUsed - baseline;
    // Coarse: the 64 MiB kept, plus slack for the heap's own bookkeeping.
    expect(grown).toBeLessThan(DEFAULT_HISTORY_MAX_TOTAL_BYTES + 32 * 1024 * 1024);
    await broker.close();
  });

  it('reaches the hub: a resume from before what the byte bound evicted gets a reset', async () => {
    const hub = createHub({ history: { maxBytes: 2500 }, heartbeat: false });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await hub.publish('t', big(1000, String(i))));
      const reset = await hub.subscribe({ topics: ['t'], lastEventId: ids[0] as string });
      expect(reset.headers.get(RESUME_HEADER)).toBe('reset');
      expect((await readEvents(reset, 1)).events[0]?.event).toBe(RESET_EVENT);
      const replay = await hub.subscribe({ topics: ['t'], lastEventId: ids[2] as string });
      expect(replay.headers.get(RESUME_HEADER)).toBe('replay');
      expect((await readEvents(replay, 1)).events.map((e) => e.id)).toEqual([ids[3]]);
    } finally {
      await hub.close();
    }
  });
});
