import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRequestListener } from '../../../src/adapters/node/index.js';
import {
  type BrokerEvent,
  createHub,
  type HistoryPage,
  type Hub,
  isBrokerError,
  RESET_EVENT,
  RESUME_HEADER,
} from '../../../src/hub/index.js';
import {
  commandsSentDuring,
  REDIS_URL,
  redisAvailable,
  redisBrokers,
  startRedisProxy,
} from '../../helpers/redis.js';
import { listen } from '../../helpers/server.js';
import { readAll, readEvents } from '../../hub/helpers.js';
import { subscribeWithClient, waitFor } from './subscriber.js';

const available = await redisAvailable();
const { broker, freshPrefix } = redisBrokers();
const hubs: Hub[] = [];

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close({ timeout: 100 })));
});

describe.skipIf(!available)('Redis broker', () => {
  it('gives one event one id on every topic, increasing, unique across instances', async () => {
    const p = freshPrefix('ids');
    const a = broker(p);
    const b = broker(p);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(await (i % 2 === 0 ? a : b).publish(['x', 'y'], { data: `d${i}` }));
    }
    for (let i = 1; i < ids.length; i++)
      expect(a.compareIds(ids[i] as string, ids[i - 1] as string)).toBeGreaterThan(0);
    const page = await a.history(['x'], '0-0');
    const pageY = await b.history(['y'], '0-0');
    expect(page.events.map((e) => e.id)).toEqual(ids);
    expect(pageY.events.map((e) => e.id)).toEqual(ids);
    expect(page.events[0]).toEqual({ id: ids[0], topics: ['x', 'y'], event: undefined, data: 'd0' });
  });

  it('reads history after an id (exclusive), each event once across topics, in pages', async () => {
    const b = broker(freshPrefix('history'));
    const ids = [
      await b.publish(['a'], { data: '1' }),
      await b.publish(['a', 'b'], { event: 'both', data: '2\nline' }),
      await b.publish(['b'], { data: '3' }),
      await b.publish(['c'], { data: 'other topic' }),
      await b.publish(['a'], { event: '', data: '' }),
    ];
    const all = await b.history(['a', 'b'], ids[0] as string);
    expect(all.truncated).toBe(false);
    expect(all.more).toBe(false);
    expect(all.head).toBe(ids[4]);
    expect(all.events.map((e: BrokerEvent) => [e.id, e.event, e.data])).toEqual([
      [ids[1], 'both', '2\nline'],
      [ids[2], undefined, '3'],
      [ids[4], '', ''],
    ]);
    const first = await b.history(['a', 'b'], '0-0', { limit: 2 });
    expect(first.events.map((e) => e.id)).toEqual([ids[0], ids[1]]);
    expect(first.more).toBe(true);
    const rest = await b.history(['a', 'b'], ids[1] as string, { limit: 2 });
    expect(rest.events.map((e) => e.id)).toEqual([ids[2], ids[4]]);
    expect(rest.more).toBe(false);
    const none = await b.history(['never'], ids[2] as string);
    expect(none).toEqual({ events: [], more: false, truncated: false, head: ids[4] });
  });

  it('says truncated for trimmed history, malformed ids and ids it never handed out', async () => {
    const b = broker(freshPrefix('trim'), { maxLen: 10 });
    const first = await b.publish(['t'], { data: '0' });
    for (let i = 1; i < 30; i++) await b.publish(['t'], { data: String(i) });
    const trimmed = await b.history(['t'], first);
    expect(trimmed.truncated).toBe(true);
    const head = trimmed.head;
    expect((await b.history(['t'], head)).truncated).toBe(false);
    expect((await b.history(['t'], 'garbage')).truncated).toBe(true);
    const future = `${Date.now() + 86_400_000}-0`;
    const ahead = await b.history(['t'], future);
    expect(ahead.truncated).toBe(true);
    expect(ahead.head).toBe(head);
  });

  it('says truncated after an entry was deleted from the stream (XDEL), only for ids before it', async () => {
    const p = freshPrefix('xdel');
    const b = broker(p);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await b.publish(['t'], { data: String(i) }));
    expect((await b.history(['t'], ids[0] as string)).truncated).toBe(false);
    const admin = new Redis(REDIS_URL);
    try {
      // An operator removes one entry by hand: a replay from before it would have a hole.
      expect(await admin.xdel(`${p}t:t`, ids[2] as string)).toBe(1);
    } finally {
      admin.disconnect();
    }
    const before = await b.history(['t'], ids[0] as string);
    expect(before.truncated).toBe(true);
    expect(before.events.map((e) => e.data)).toEqual(['1', '3']);
    expect((await b.history(['t'], ids[2] as string)).truncated).toBe(false);
  });

  it('expires every key of several topics with one command', async () => {
    const p = freshPrefix('expire');
    const b = broker(p);
    await b.publish(['a', 'b', 'c'], { data: 'x' });
    const { sent } = await commandsSentDuring(() => b.expire?.(['a', 'b', 'c'], 60_000) as Promise<void>);
    expect(sent.map((c) => c.name)).toEqual(['evalsha']);
    const admin = new Redis(REDIS_URL);
    try {
      const keys = (await admin.keys(`${p}*`)).filter((k) => /[tl]:[abc]$/.test(k)).sort();
      expect(keys).toHaveLength(6); // each topic's stream and byte log
      for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
    } finally {
      admin.disconnect();
    }
  });

  it('a frozen topic list, kept and reused across publishes, reaches its own streams each time', async () => {
    const p = freshPrefix('frozen');
    const b = broker(p);
    const one = Object.freeze(['f1']);
    const two = Object.freeze(['f2', 'f3']);
    for (let i = 0; i < 3; i++) {
      await b.publish(one, { data: `one${i}` });
      await b.publish(two, { data: `two${i}` });
    }
    expect((await b.history(['f1'], '0-0')).events.map((e) => e.data)).toEqual(['one0', 'one1', 'one2']);
    expect((await b.history(['f3'], '0-0')).events.map((e) => [e.data, e.topics])).toEqual(
      [0, 1, 2].map((i) => [`two${i}`, ['f2', 'f3']]),
    );
  });

  it('sends the publishes of one turn of the event loop as one script call, ids in call order', async () => {
    const p = freshPrefix('batch');
    const b = broker(p);
    await b.publish(['warm'], { data: 'loads the script' });
    const { result: ids, sent } = await commandsSentDuring(() =>
      Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          b.publish(i % 2 ? ['x'] : ['x', 'y'], { event: i % 3 ? undefined : 'e', data: `d${i}` }),
        ),
      ),
    );
    expect(sent.map((c) => c.name).filter((name) => name === 'evalsha' || name === 'eval')).toEqual([
      'evalsha',
    ]);
    for (let i = 1; i < ids.length; i++)
      expect(b.compareIds(ids[i] as string, ids[i - 1] as string)).toBeGreaterThan(0);
    const x = await b.history(['x'], '0-0', { limit: 1000 });
    expect(x.events.map((e) => [e.id, e.event, e.data])).toEqual(
      ids.map((id, i) => [id, i % 3 ? undefined : 'e', `d${i}`]),
    );
    const y = await b.history(['y'], '0-0', { limit: 1000 });
    expect(y.events.map((e) => e.data)).toEqual(ids.map((_, i) => `d${i}`).filter((_, i) => i % 2 === 0));
  });

  it('sends history reads asked for together as one script call, each page as if read alone', async () => {
    const b = broker(freshPrefix('reads'));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await b.publish(i % 2 ? ['r'] : ['r', 's'], { data: `d${i}` }));
    const asks = [
      () => b.history(['r'], ids[1] as string, { limit: 2 }),
      () => b.history(['s'], '0-0'),
      () => b.history(['r', 's'], ids[3] as string),
      () => b.history(['never'], ids[0] as string),
      () => b.history(['r'], 'garbage'),
      () => b.history(['r'], `${Date.now() + 86_400_000}-0`),
    ];
    const alone: HistoryPage[] = [];
    for (const ask of asks) alone.push(await ask());
    const { result: together, sent } = await commandsSentDuring(() => Promise.all(asks.map((ask) => ask())));
    expect(sent.map((c) => c.name).filter((name) => name === 'evalsha' || name === 'eval')).toEqual([
      'evalsha',
    ]);
    expect(together).toEqual(alone);
    expect(together[0]?.events.map((e) => e.data)).toEqual(['d2', 'd3']);
    expect(together[0]?.more).toBe(true);
    expect(together[4]?.truncated).toBe(true);
    expect(together[5]?.truncated).toBe(true);
  });

  it('a read of the live feed names the streams with news, not every stream followed', async () => {
    const p = freshPrefix('news');
    const pub = broker(p);
    const sub = broker(p);
    const got: BrokerEvent[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: () => {} });
    const topics = Array.from({ length: 300 }, (_, i) => `t${i}`);
    await feed.follow(topics);
    const { sent } = await commandsSentDuring(async () => {
      const a = await pub.publish(['t7'], { data: 'one' });
      await until(() => got.some((e) => e.id === a));
      const b = await pub.publish(['t8', 't299'], { data: 'two' });
      await until(() => got.some((e) => e.id === b));
    });
    expect(got.map((e) => e.data)).toEqual(['one', 'two']);
    // COUNT n STREAMS key... id...: one or two streams a read, never 300.
    const named = sent.filter((c) => c.name === 'xread').map((c) => (c.args.length - 3) / 2);
    expect(named.length).toBeGreaterThan(0);
    expect(Math.max(...named)).toBeLessThanOrEqual(2);
    await feed.close();
  });

  it('takes follows asked at once together: one subscription, one head read, not one each', async () => {
    const p = freshPrefix('follows');
    const pub = broker(p);
    const sub = broker(p);
    const got: BrokerEvent[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: () => {} });
    await feed.follow(['warm']);
    const { sent } = await commandsSentDuring(() =>
      Promise.all(Array.from({ length: 100 }, (_, i) => feed.follow([`f${i}`]))),
    );
    // The first follow goes alone; the 99 that queued behind it go together.
    expect(sent.filter((c) => c.name === 'subscribe').length).toBeLessThanOrEqual(2);
    expect(sent.filter((c) => c.name === 'evalsha').length).toBeLessThanOrEqual(2);
    const ids = await Promise.all([pub.publish(['f0'], { data: 'a' }), pub.publish(['f99'], { data: 'b' })]);
    await until(() => got.length === 2);
    expect(got.map((e) => e.id)).toEqual(ids);
    await feed.close();
  });

  it('rejects a publish with a typed error when Redis is unreachable', async () => {
    const b = broker(freshPrefix('down'), { url: 'redis://127.0.0.1:1', commandTimeout: 500 });
    const error = await b.publish(['t'], { data: 'x' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBrokerError(error)).toBe(true);
    expect((error as { type: string }).type).toBe('publish-failed');
  });

  it('reports connection trouble with console.error by default, as the hub, replies and the node adapter do', async () => {
    const proxy = await startRedisProxy(REDIS_URL);
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const b = broker(freshPrefix('log'), { url: proxy.url, maxBackoff: 200, onError: undefined });
      await b.ready();
      const feed = b.subscribe({ onEvent() {}, onError() {} });
      await feed.follow(['t']);
      proxy.cut();
      await vi.waitFor(() => expect(log).toHaveBeenCalledWith('ssekit redis broker:', expect.anything()));
      await feed.close();
    } finally {
      log.mockRestore();
      await proxy.close();
    }
  });

  it('delivers live events from one instance to the feed of another, once, in id order', async () => {
    const p = freshPrefix('feed');
    const pub = broker(p);
    const sub = broker(p);
    const got: BrokerEvent[] = [];
    const errors: unknown[] = [];
    const feed = sub.subscribe({ onEvent: (e) => got.push(e), onError: (e) => errors.push(e) });
    await feed.follow(['a']);
    await feed.follow(['b']);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++)
      ids.push(
        await pub.publish(i % 3 === 0 ? ['a', 'b'] : i % 3 === 1 ? ['a'] : ['b', 'c'], { data: String(i) }),
      );
    await pub.publish(['c'], { data: 'not followed' });
    const last = await pub.publish(['a'], { data: 'end' });
    await until(() => got.some((e) => e.id === last));
    expect(got.map((e) => e.id)).toEqual([...ids, last]);
    await feed.unfollow(['a']);
    await feed.close();
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!available)('hubs sharing a Redis broker', () => {
  it('subscribers on one hub get what another publishes, and resume on either', async () => {
    const p = freshPrefix('hubs');
    const hubA = createHub({ broker: broker(p), heartbeat: false });
    const hubB = createHub({ broker: broker(p), heartbeat: false });
    hubs.push(hubA, hubB);
    const response = await hubA.subscribe({ topics: ['room'] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hubB.publish('room', `m${i}`));
    const live = await readEvents(response, 5);
    expect(live.events.map((e) => [e.id, e.data])).toEqual(ids.map((id, i) => [id, `m${i}`]));
    const resumed = await hubB.subscribe({ topics: ['room'], lastEventId: ids[1] });
    expect(resumed.headers.get(RESUME_HEADER)).toBe('replay');
    const replay = await readEvents(resumed, 3);
    expect(replay.events.map((e) => e.id)).toEqual(ids.slice(2));
  });

  it('sends the reset event when history was trimmed past the Last-Event-ID', async () => {
    const p = freshPrefix('reset');
    const hub = createHub({ broker: broker(p, { maxLen: 10 }), heartbeat: false });
    hubs.push(hub);
    const old = await hub.publish('t', 'old');
    let head = old;
    for (let i = 0; i < 300; i++) head = await hub.publish('t', String(i));
    const response = await hub.subscribe({ topics: ['t'], lastEventId: old });
    expect(response.headers.get(RESUME_HEADER)).toBe('reset');
    const { events } = await readEvents(response, 1);
    expect(events[0]?.event).toBe(RESET_EVENT);
    expect(events[0]?.id).toBe(head);
  });

  it('keeps subscribers connected through dropped Redis connections: every event once, in order', async () => {
    const p = freshPrefix('drop');
    const feedErrors: unknown[] = [];
    const subBroker = broker(p, { onError: (e) => feedErrors.push(e) });
    const pubBroker = broker(p);
    const hub = createHub({ broker: subBroker, heartbeat: false });
    hubs.push(hub);
    await subBroker.ready();
    const responses = await Promise.all([0, 1, 2].map(() => hub.subscribe({ topics: ['t'] })));
    const admin = new Redis(REDIS_URL);
    admin.on('error', () => {});
    const total = 1000;
    const acked: string[] = [];
    let failedPublishes = 0;
    const publisher = (async () => {
      for (let i = 0; i < total; i++) {
        // A publish during the outage fails clearly; the publisher retries it.
        for (;;) {
          try {
            acked.push(await pubBroker.publish(['t'], { data: String(i) }));
            break;
          } catch (error) {
            if (!isBrokerError(error)) throw error;
            failedPublishes++;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        if (i === 300 || i === 700) {
          const ids = await subBroker.clientIds();
          const pubIds = await pubBroker.clientIds();
          await admin.client('KILL', 'ID', String(ids.reader));
          await admin.client('KILL', 'ID', String(ids.bell));
          await admin.client('KILL', 'ID', String(ids.command));
          if (i === 700) await admin.client('KILL', 'ID', String(pubIds.command));
        }
      }
    })();
    const reads = responses.map((r) => readEvents(r, total));
    await publisher;
    const results = await Promise.all(reads);
    // Everything Redis stored, in order, once (a publish cut off mid-reply may be stored once
    // without an ack; the publisher's retry then stores its data again under a new id).
    const stored = (await admin.xrange(`${p}t:t`, '-', '+')).map(([id]) => id);
    admin.disconnect();
    expect(stored.length).toBeGreaterThanOrEqual(total);
    for (const id of acked) expect(stored).toContain(id);
    for (const result of results) {
      expect(result.done).toBe(false);
      expect(result.events.map((e) => e.id)).toEqual(stored.slice(0, total));
    }
    // Each publish that failed did so with a BrokerError (anything else was thrown above), and
    // the feed did lose its connection, twice, and said so: once per outage (the second kill may
    // come before the feed is back from the first, which is then one outage).
    expect(failedPublishes).toBeLessThan(total);
    const reports = feedErrors.filter((e) => isBrokerError(e) && e.type === 'feed-failed').length;
    expect(reports).toBeGreaterThanOrEqual(1);
    expect(reports).toBeLessThanOrEqual(2);
  });
});

describe.skipIf(!available)('a network partition between a hub and Redis (TCP proxy)', () => {
  it('subscribers on the real client stay connected and get every event once, in order', async () => {
    const p = freshPrefix('partition');
    const proxy = await startRedisProxy(REDIS_URL);
    const feedErrors: unknown[] = [];
    const subBroker = broker(p, { url: proxy.url, maxBackoff: 200, onError: (e) => feedErrors.push(e) });
    const pubBroker = broker(p);
    await Promise.all([subBroker.ready(), pubBroker.ready()]);
    const hub = createHub({ broker: subBroker, heartbeat: false });
    hubs.push(hub);
    const server = await listen(createRequestListener(hub.handler));
    const subs = [0, 1, 2].map(() => subscribeWithClient(() => server.url, 't'));
    try {
      await waitFor(() => subs.every((s) => s.opens === 1), 10_000);
      const total = 2000;
      const ids: string[] = [];
      for (let i = 0; i < total; i++) {
        ids.push(await pubBroker.publish(['t'], { data: String(i) }));
        if (i === 700) proxy.cut();
        if (i === 900) proxy.heal();
      }
      await waitFor(() => subs.every((s) => s.ids.length >= total), 30_000);
      for (const sub of subs) {
        expect(sub.resets).toEqual([]);
        expect(sub.ids).toEqual(ids);
        expect(sub.opens).toBe(1);
      }
      expect(feedErrors.filter((e) => isBrokerError(e) && e.type === 'feed-failed').length).toBe(1);
    } finally {
      for (const sub of subs) sub.close();
      await server.close();
      await proxy.close();
    }
  }, 60_000);

  it('when Redis trimmed what the feed missed: subscribers end, resume with a reset, the feed lives on', async () => {
    const p = freshPrefix('gap');
    const proxy = await startRedisProxy(REDIS_URL);
    const subBroker = broker(p, { url: proxy.url, maxBackoff: 200 });
    const pubBroker = broker(p, { maxLen: 10 });
    await Promise.all([subBroker.ready(), pubBroker.ready()]);
    const errors: unknown[] = [];
    const hub = createHub({ broker: subBroker, heartbeat: false, onError: (e) => errors.push(e) });
    hubs.push(hub);
    try {
      const first = await hub.subscribe({ topics: ['t'] });
      const before: string[] = [];
      for (let i = 0; i < 3; i++) before.push(await pubBroker.publish(['t'], { data: `b${i}` }));
      const seen = await readEvents(first, 3);
      expect(seen.events.map((e) => e.id)).toEqual(before);
      proxy.cut();
      let head = '';
      for (let i = 0; i < 30; i++) head = await pubBroker.publish(['t'], { data: `m${i}` });
      proxy.heal();
      // The feed finds the gap once back: the stream ends with a retry hint, no event of the gap.
      const rest = await readAll(first);
      expect(rest.events).toEqual([]);
      expect(rest.retries.length).toBe(1);
      expect(errors.some((e) => isBrokerError(e) && e.type === 'feed-failed')).toBe(true);
      // The client comes back with its last id: told to reset, then live events flow again.
      const again = await hub.subscribe({ topics: ['t'], lastEventId: before[2] as string });
      expect(again.headers.get(RESUME_HEADER)).toBe('reset');
      const next = await pubBroker.publish(['t'], { data: 'after' });
      const { events } = await readEvents(again, 2);
      expect(events[0]?.event).toBe(RESET_EVENT);
      expect(events[0]?.id).toBe(head);
      expect(events[1]?.id).toBe(next);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
