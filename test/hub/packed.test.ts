/**
 * The in-memory broker packs a topic's events once the topic is given an expiry (a finished
 * reply's log), and a reply's log from its second event on: the same history, the same bounds, far
 * fewer objects.
 */
import { describe, expect, it } from 'vitest';
import { type PublishMemo, publishNowOf } from '../../src/hub/broker.js';
import {
  type BrokerEvent,
  createMemoryBroker,
  type HistoryPage,
  historyEventBytes,
} from '../../src/hub/index.js';

function clockedBroker(options: Parameters<typeof createMemoryBroker>[0] = {}) {
  const clock = { time: 1_000_000 };
  const broker = createMemoryBroker({ ...options, now: () => clock.time++ });
  return { broker, clock };
}

/** Every page of `topics` after each id of `ids` (and the start), at several limits. */
async function pages(
  broker: ReturnType<typeof createMemoryBroker>,
  topics: string[],
  ids: string[],
): Promise<HistoryPage[]> {
  const out: HistoryPage[] = [];
  for (const after of ['0-0', ...ids]) {
    for (const limit of [1, 3, 1000]) out.push(await broker.history(topics, after, { limit }));
  }
  return out;
}

const plain = (events: readonly BrokerEvent[]) => events.map((e) => ({ ...e }));

describe('memory broker: packed topics', () => {
  it('reads the same history after packing: ids, types, data (empty, multi-byte, long), topics, pages and bytes', async () => {
    const { broker } = clockedBroker();
    const ids: string[] = [];
    const datas = ['', 'a', 'día ☃ 🎉', 'x'.repeat(5000), '', 'line1\nline2', 'z'];
    for (let i = 0; i < 40; i++) {
      const data = datas[i % datas.length] as string;
      const init = i % 3 === 0 ? { event: i % 2 === 0 ? 'delta' : '', data } : { data };
      ids.push(await broker.publish(['log'], init));
    }
    await broker.publish(['other'], { data: 'o' });
    const before = await pages(broker, ['log'], ids);
    const merged = await broker.history(['log', 'other'], '0-0');
    const bytes = broker.historyBytes();
    await broker.expire?.(['log'], 60_000);
    const after = await pages(broker, ['log'], ids);
    expect(after.map((p) => ({ ...p, events: plain(p.events) }))).toEqual(
      before.map((p) => ({ ...p, events: plain(p.events) })),
    );
    expect(plain((await broker.history(['log', 'other'], '0-0')).events)).toEqual(plain(merged.events));
    expect(broker.historyBytes()).toBe(bytes);
    // Packed events are made anew for each read (unpacked ones are the very objects kept).
    const a = await broker.history(['log'], '0-0', { limit: 1 });
    const b = await broker.history(['log'], '0-0', { limit: 1 });
    expect(a.events[0]).not.toBe(b.events[0]);
    expect(a.events[0]).toEqual(b.events[0]);
    // Dropped while packed: a resume from before its newest event is truncated.
    await broker.expire?.(['log'], 0);
    expect(broker.historyBytes()).toBeLessThan(bytes);
    expect((await broker.history(['log'], ids[38] as string)).truncated).toBe(true);
  });

  it('packs events of several topics too: each is read once, from a packed topic and one that is not', async () => {
    const { broker } = clockedBroker();
    const both = await broker.publish(['a', 'b'], { event: 'open', data: 'both' });
    const onlyA = await broker.publish(['a'], { data: 'a' });
    const onlyB = await broker.publish(['b'], { data: 'b' });
    const bytes = broker.historyBytes();
    await broker.expire?.(['a'], 60_000);
    const merged = await broker.history(['a', 'b'], '0-0');
    expect(merged.events.map((e) => [e.id, e.topics, e.data])).toEqual([
      [both, ['a', 'b'], 'both'],
      [onlyA, ['a'], 'a'],
      [onlyB, ['b'], 'b'],
    ]);
    expect((await broker.history(['b'], '0-0')).events.map((e) => e.id)).toEqual([both, onlyB]);
    // Kept twice now (packed in a, as it was in b), so counted twice: never less than before.
    expect(broker.historyBytes()).toBeGreaterThan(bytes);
    await broker.expire?.(['b'], 60_000);
    expect((await broker.history(['a', 'b'], '0-0')).events.map((e) => e.id)).toEqual([both, onlyA, onlyB]);
    await broker.expire?.(['a', 'b'], 0);
    expect(broker.historyBytes()).toBe(0);
  });

  it('keeps the bound in all when packing counts an event of two topics twice', async () => {
    const { broker } = clockedBroker({ history: { maxTotalBytes: 2_000 } });
    const data = 'x'.repeat(400);
    await broker.publish(['a', 'b'], { data });
    for (let i = 0; i < 2; i++) await broker.publish(['a'], { data });
    const before = broker.historyBytes();
    // About 1,600 bytes: under the bound once, over it with the first event counted twice.
    expect(before).toBeLessThanOrEqual(2_000);
    expect(before + before / 3).toBeGreaterThan(2_000);
    await broker.expire?.(['a'], 60_000);
    expect(broker.historyBytes()).toBeLessThanOrEqual(2_000);
    // The oldest went: from the packed topic, which held it first.
    expect((await broker.history(['a'], '0-0')).truncated).toBe(true);
  });

  it('appends a publish to a packed topic: the history goes on in order, its bytes and bounds as before', async () => {
    const { broker } = clockedBroker({ history: { maxEvents: 5 } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await broker.publish(['log'], { data: `e${i}` }));
    await broker.expire?.(['log'], 60_000);
    const bytes = broker.historyBytes();
    for (let i = 4; i < 7; i++) ids.push(await broker.publish(['log'], { data: `e${i}` }));
    const page = await broker.history(['log'], '0-0');
    // maxEvents 5: the two oldest fell out when the history took the new ones.
    expect(page.events.map((e) => e.data)).toEqual(['e2', 'e3', 'e4', 'e5', 'e6']);
    expect(page.truncated).toBe(true);
    expect((await broker.history(['log'], ids[1] as string)).truncated).toBe(false);
    expect(broker.historyBytes()).toBeGreaterThan(bytes);
    // Counted once each, as the events kept one by one they are again.
    expect(broker.historyBytes()).toBe(page.events.reduce((sum, e) => sum + historyEventBytes(e), 0));
    // Packed again, and expired at its time.
    await broker.expire?.(['log'], 60_000);
    expect((await broker.history(['log'], ids[3] as string)).events.map((e) => e.data)).toEqual([
      'e4',
      'e5',
      'e6',
    ]);
  });

  it('the bound across topics drops packed events oldest first, raising the floor: a resume from before them is truncated', async () => {
    const data = 'x'.repeat(900);
    const { broker } = clockedBroker({ history: { maxTotalBytes: 10_000 } });
    const old: string[] = [];
    for (let i = 0; i < 5; i++) old.push(await broker.publish(['old'], { data }));
    await broker.expire?.(['old'], 60_000);
    const newer: string[] = [];
    for (let i = 0; i < 6; i++) newer.push(await broker.publish(['new'], { data }));
    // About 1,000 bytes an event: 11 do not fit in 10,000; the oldest packed ones went first.
    expect(broker.historyBytes()).toBeLessThanOrEqual(10_000);
    const left = await broker.history(['old'], '0-0');
    expect(left.truncated).toBe(true);
    expect(left.events.length).toBeLessThan(5);
    expect(left.events.map((e) => e.id)).toEqual(old.slice(5 - left.events.length));
    const firstLeft = old[5 - left.events.length - 1] as string;
    expect((await broker.history(['old'], firstLeft)).truncated).toBe(false);
    expect((await broker.history(['new'], '0-0')).events.map((e) => e.id)).toEqual(newer);
    // More: the packed topic empties, and then the oldest events kept one by one go.
    for (let i = 0; i < 10; i++) await broker.publish(['new'], { data });
    const gone = await broker.history(['old'], old[4] as string);
    expect(gone.events).toEqual([]);
    expect((await broker.history(['old'], old[3] as string)).truncated).toBe(true);
    expect(broker.historyBytes()).toBeLessThanOrEqual(10_000);
  });

  it('the age bound drops packed events, and an expiry drops the topic: a resume from before is truncated', async () => {
    const { broker, clock } = clockedBroker({ history: { maxAge: 1000 } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await broker.publish(['log'], { data: `e${i}` }));
      clock.time += 400;
    }
    await broker.expire?.(['log'], 60_000);
    // Now about 1,200 ms after the first, 800 after the second.
    const page = await broker.history(['log'], '0-0');
    expect(page.events.map((e) => e.data)).toEqual(['e1', 'e2']);
    expect(page.truncated).toBe(true);
    expect(broker.historyBytes()).toBeGreaterThan(0);
    clock.time += 10_000;
    expect((await broker.history(['log'], ids[2] as string)).events).toEqual([]);
    expect(broker.historyBytes()).toBe(0);
    await broker.expire?.(['log'], 0);
    expect((await broker.history(['log'], ids[1] as string)).truncated).toBe(true);
  });

  it('holds a packed log in far less memory than its events one by one', async () => {
    // The heap and what typed arrays hold outside it.
    const used = () => {
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(typeof gc, 'vitest.config.ts passes --expose-gc').toBe('function');
    const { broker } = clockedBroker({ history: { maxTotalBytes: 2 ** 30 } });
    const topics = Array.from({ length: 200 }, (_, i) => Object.freeze([`reply/${i}`]));
    gc?.();
    const empty = used();
    // 200 logs of 200 small events, as a reply's tokens (data made apart from the broker).
    for (let k = 0; k < 200; k++) {
      for (const topic of topics) await broker.publish(topic, { data: `tok${k}` });
    }
    gc?.();
    const oneByOne = used() - empty;
    for (const topic of topics) await broker.expire?.(topic, 600_000);
    gc?.();
    const packed = used() - empty;
    expect(oneByOne).toBeGreaterThan(40_000 * 50);
    expect(packed).toBeLessThan(oneByOne / 2);
    expect((await broker.history([topics[7]?.[0] as string], '0-0')).events.length).toBe(200);
  });
});

describe("memory broker: a reply's log, packed as it is published", () => {
  /**
   * Two brokers on the same clock and bounds, given the same publishes: one the way a reply
   * publishes its log (its open marker to the log and its control topic, then each event through
   * PUBLISH_NOW with a memo), the other through `publish`, kept one by one.
   */
  function twins(history: NonNullable<Parameters<typeof createMemoryBroker>[0]>['history'] = {}) {
    const clock = { time: 1_000_000 };
    const options = { history, now: () => clock.time };
    const packed = createMemoryBroker(options);
    const plain = createMemoryBroker(options);
    const publishNow = publishNowOf(packed) as NonNullable<ReturnType<typeof publishNowOf>>;
    const log = Object.freeze(['reply/x']);
    const memo: PublishMemo = {};
    const ids: string[] = [];
    return {
      clock,
      packed,
      plain,
      ids,
      async open() {
        const a = await packed.publish(['reply/x', 'reply/x/control'], { event: 'ssekit-open', data: '' });
        const b = await plain.publish(['reply/x', 'reply/x/control'], { event: 'ssekit-open', data: '' });
        expect(a).toBe(b);
        ids.push(a);
      },
      async send(init: { event?: string; data: string }) {
        const event = publishNow(log, init, memo);
        expect(await plain.publish(log, init)).toBe(event.id);
        expect({ ...event }).toEqual({ id: event.id, topics: log, event: init.event, data: init.data });
        ids.push(event.id);
        clock.time += 1;
      },
      /** Every page after every id (and the start) at several limits: the same from both. */
      async same() {
        for (const after of ['0-0', ...ids]) {
          for (const limit of [1, 7, 1000]) {
            const a = await packed.history(['reply/x'], after, { limit });
            const b = await plain.history(['reply/x'], after, { limit });
            expect({ ...a, events: a.events.map((e) => ({ ...e })) }).toEqual({
              ...b,
              events: b.events.map((e) => ({ ...e })),
            });
          }
        }
      },
    };
  }

  it('reads the same history as events kept one by one, while it runs, after it ends and after more is published', async () => {
    const t = twins();
    await t.open();
    const datas = ['t0', '', 'día ☃ 🎉', 'x'.repeat(3000), 'line1\nline2', 'z'];
    for (let i = 0; i < 60; i++) {
      await t.send(
        i % 4 === 1
          ? { event: i % 8 === 1 ? 'delta' : '', data: datas[i % 6] as string }
          : { data: datas[i % 6] as string },
      );
      if (i % 20 === 0) await t.same();
    }
    await t.same();
    // Each event once in each broker's bytes, but the open marker: the packed log holds it apart
    // from the control topic, which keeps it one by one (see pack), so it counts twice there.
    const [open] = (await t.plain.history(['reply/x/control'], '0-0')).events;
    expect(open?.event).toBe('ssekit-open');
    expect(t.packed.historyBytes()).toBe(t.plain.historyBytes() + historyEventBytes(open as BrokerEvent));
    // The end goes to the log and the control topic; then the reply is kept for its retention.
    for (const broker of [t.packed, t.plain]) {
      t.ids.push(await broker.publish(['reply/x', 'reply/x/control'], { event: 'end', data: '{}' }));
      await broker.expire?.(['reply/x', 'reply/x/control'], 60_000);
    }
    t.ids.pop();
    await t.same();
    // Published to again (a stop that came late): appended.
    await t.send({ data: 'late' });
    await t.same();
    // Both topics packed in both brokers now: the same bytes.
    expect(t.packed.historyBytes()).toBe(t.plain.historyBytes());
  });

  it("keeps the topic's bounds as its history would: events, bytes (but the newest), age; and what fell out is truncated", async () => {
    for (const history of [{ maxEvents: 10 }, { maxBytes: 2_000 }, { maxAge: 25 }]) {
      const t = twins(history);
      await t.open();
      for (let i = 0; i < 300; i++) {
        // Now and then an event larger than the byte bound on its own: it is kept, alone.
        await t.send({ data: i % 97 === 50 ? 'y'.repeat(2_500) : `token ${i}` });
        if (i % 50 === 49) await t.same();
      }
      // Before a read (which drops what is past the age bound too): the same bytes. The open
      // marker fell out of the log by now: it counts once, for the control topic, in both.
      t.clock.time += 10;
      await t.send({ data: 'last' });
      expect([history, t.packed.historyBytes()]).toEqual([history, t.plain.historyBytes()]);
      const page = await t.packed.history(['reply/x'], '0-0');
      expect(page.truncated).toBe(true);
      expect(page.events.length).toBeGreaterThan(0);
      expect(page.events.length).toBeLessThan(300);
    }
  });

  it('gives back the room of what fell out: a log that goes on past its bound holds about its bound', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(typeof gc, 'vitest.config.ts passes --expose-gc').toBe('function');
    const used = () => {
      gc?.();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const broker = createMemoryBroker({ history: { maxEvents: 100 } });
    const publishNow = publishNowOf(broker) as NonNullable<ReturnType<typeof publishNowOf>>;
    const log = Object.freeze(['reply/y']);
    const memo: PublishMemo = {};
    await broker.publish(['reply/y', 'reply/y/control'], { event: 'ssekit-open', data: '' });
    for (let i = 0; i < 1_000; i++) publishNow(log, { data: `token number ${i}` }, memo);
    const before = used();
    for (let i = 0; i < 200_000; i++) publishNow(log, { data: `token number ${i}` }, memo);
    // 200,000 events of about 60 bytes each would be some 12 MB.
    expect(used() - before).toBeLessThan(3_000_000);
    const page = await broker.history(['reply/y'], '0-0');
    expect(page.events.map((e) => e.data)).toEqual(
      Array.from({ length: 100 }, (_, i) => `token number ${199_900 + i}`),
    );
  });

  it("holds a running log in far less of the collector's heap than its events one by one", async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    // The heap alone: the collector copies and marks what is there; a typed array's store is not.
    const used = () => {
      gc?.();
      return process.memoryUsage().heapUsed;
    };
    const measure = async (withMemo: boolean) => {
      const broker = createMemoryBroker({ history: { maxTotalBytes: 2 ** 30 } });
      const publishNow = publishNowOf(broker) as NonNullable<ReturnType<typeof publishNowOf>>;
      const logs = Array.from({ length: 200 }, (_, i) => Object.freeze([`reply/${i}`]));
      const memos = logs.map((): PublishMemo => ({}));
      const data = Array.from({ length: 200 }, (_, k) => `tok${k}`);
      for (const log of logs)
        await broker.publish([log[0] as string, `${log[0]}/control`], { event: 'ssekit-open', data: '' });
      const empty = used();
      for (let k = 0; k < 200; k++) {
        logs.forEach((log, i) => {
          if (withMemo) publishNow(log, { data: data[k] as string }, memos[i]);
          else publishNow(log, { data: data[k] as string });
        });
      }
      const held = used() - empty;
      expect((await broker.history([logs[7]?.[0] as string], '0-0')).events.length).toBe(201);
      return held;
    };
    const oneByOne = await measure(false);
    const packed = await measure(true);
    expect(oneByOne).toBeGreaterThan(40_000 * 50);
    expect(packed).toBeLessThan(oneByOne / 4);
  });
});

describe("memory broker: a reply's log packed with room to grow", () => {
  it('gives the room back when the topic is given an expiry (the reply ended)', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(typeof gc, 'vitest.config.ts passes --expose-gc').toBe('function');
    // Array buffers are freed by a sweeper that can run after gc() returns: collected, then given
    // a moment, a few times over, before they are counted.
    const buffers = async () => {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return process.memoryUsage().arrayBuffers;
    };
    const broker = createMemoryBroker({ history: { maxTotalBytes: 2 ** 30 } });
    const publishNow = publishNowOf(broker) as NonNullable<ReturnType<typeof publishNowOf>>;
    // 40 events a log: packed at its second with room for 32 more, then grown to 66 (7 numbers
    // of 8 bytes each): 3,696 bytes of numbers for 40 events that need 2,240.
    const logs = Array.from({ length: 500 }, (_, i) => Object.freeze([`reply/${i}`]));
    for (const log of logs) {
      await broker.publish([log[0] as string, `${log[0]}/control`], { event: 'ssekit-open', data: '' });
      const memo: PublishMemo = {};
      for (let k = 0; k < 39; k++) publishNow(log, { data: `t${k}` }, memo);
    }
    const running = await buffers();
    for (const log of logs) await broker.expire?.([log[0] as string], 600_000);
    const ended = await buffers();
    // 500 logs of 1,456 bytes of room each: some 730 kB given back.
    expect(running - ended).toBeGreaterThan(500_000);
    expect((await broker.history([logs[3]?.[0] as string], '0-0')).events.length).toBe(40);
  });
});
