import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Broker,
  type BrokerEvent,
  type BrokerListener,
  createHub,
  createMemoryBroker,
  type Hub,
  isHubClosedError,
  isHubInputError,
  RESET_EVENT,
  RESUME_HEADER,
} from '../../src/hub/index.js';
import { deferred, gatedBroker, nextMacrotask, readAll, readEvents, readUntil, seeded } from './helpers.js';

const hubs: Hub[] = [];
function hubWith(options: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub({ heartbeat: false, ...options });
  hubs.push(hub);
  return hub;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(hubs.splice(0).map((h) => h.close({ timeout: 100 })));
});

describe('publish and subscribe', () => {
  it('delivers each event once to every subscriber of its topics, in order, with its id', async () => {
    const hub = hubWith();
    const ab = await hub.subscribe({ topics: ['a', 'b'] });
    const a = await hub.subscribe({ topics: ['a'] });
    const i1 = await hub.publish('a', 'one');
    const i2 = await hub.publish(['a', 'b'], { event: 'both', data: 'two\nlines' });
    const i3 = await hub.publish('b', 'three');
    await hub.publish('c', 'nobody');
    const gotAb = await readEvents(ab, 3);
    const gotA = await readEvents(a, 2);
    expect(gotAb.events).toEqual([
      { id: i1, event: 'message', data: 'one' },
      { id: i2, event: 'both', data: 'two\nlines' },
      { id: i3, event: 'message', data: 'three' },
    ]);
    expect(gotA.events.map((e) => e.id)).toEqual([i1, i2]);
    expect(ab.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(ab.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(ab.headers.get(RESUME_HEADER)).toBeNull();
  });

  it('a subscriber that joins its group mid-tick does not get the batch published before it came', async () => {
    const hub = hubWith();
    const first = await hub.subscribe({ topics: ['t'] });
    await hub.publish('t', 'before'); // pending in the group's batch until the end of the tick
    const late = await hub.subscribe({ topics: ['t'] }); // joins the same group in the same tick
    await hub.publish('t', 'after');
    expect((await readEvents(first, 2)).events.map((e) => e.data)).toEqual(['before', 'after']);
    expect((await readEvents(late, 1)).events.map((e) => e.data)).toEqual(['after']);
  });

  it('writes a burst to a subscriber as one chunk (coalesced within a tick)', async () => {
    const hub = hubWith();
    const res = await hub.subscribe({ topics: ['t'] });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the opening comment
    for (let i = 0; i < 50; i++) void hub.publish('t', String(i));
    await nextMacrotask();
    const { value } = await reader.read();
    const text = new TextDecoder().decode(value);
    expect(text.match(/^data: /gm)?.length).toBe(50);
    reader.releaseLock();
  });

  it('refuses bad input with typed errors', async () => {
    const hub = hubWith();
    await expect(hub.publish([], 'x')).rejects.toSatisfy((e) => isHubInputError(e) && e.type === 'no-topics');
    await expect(hub.publish('a\nb', 'x')).rejects.toSatisfy(
      (e) => isHubInputError(e) && e.type === 'invalid-topic',
    );
    await expect(hub.publish('a', { event: 'x\ny', data: '' })).rejects.toSatisfy(
      (e) => isHubInputError(e) && e.type === 'invalid-event',
    );
    await expect(hub.publish('a', { data: 5 as unknown as string })).rejects.toSatisfy(isHubInputError);
    // subscribe answers every refusal as HTTP, from a Request and from options alike.
    expect((await hub.subscribe({ topics: [] })).status).toBe(400);
    expect((await hub.subscribe({ topics: ['room\ud800'] })).status).toBe(400);
    await expect(hub.publish('room\ud800', 'x')).rejects.toSatisfy(
      (e) => isHubInputError(e) && e.type === 'invalid-topic',
    );
  });

  it('POST publishes { topic, event, data } with its event type and answers its id', async () => {
    const hub = hubWith();
    const sub = await hub.subscribe({ topics: ['a', 'b'] });
    const post = (body: unknown) =>
      hub.handler(
        new Request('http://h/', {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        }),
      );
    const typed = await post({ topic: ['a', 'b'], event: 'greeting', data: 'hi' });
    expect(typed.status).toBe(200);
    const { id } = (await typed.json()) as { id: string };
    const plain = (await (await post({ topic: 'a', data: 'plain' })).json()) as { id: string };
    const { events } = await readEvents(sub, 2);
    expect(events).toEqual([
      { id, event: 'greeting', data: 'hi' },
      { id: plain.id, event: 'message', data: 'plain' },
    ]);
  });

  it('reads topics from the query of a Request only, not from a fragment after it', async () => {
    const hub = hubWith();
    const res = await hub.subscribe(new Request('http://h/?topic=a#topic=b'));
    await hub.publish('b', 'not mine');
    await hub.publish('a', 'mine');
    expect(hub.metrics().topics).toBe(1);
    await hub.close();
    const { events } = await readAll(res);
    expect(events.map((e) => e.data)).toEqual(['mine']);
  });

  it('refuses an event that is not an object (null, a number) with a typed error', async () => {
    const hub = hubWith();
    for (const bad of [null, 42]) {
      await expect(hub.publish('a', bad as unknown as string)).rejects.toSatisfy(
        (e) =>
          isHubInputError(e) &&
          e.type === 'invalid-event' &&
          e.message === 'an event must be a string or { event?, data }',
      );
    }
  });
});

describe('a live subscriber joining a group with a batch pending', () => {
  it('gets none of the events published before it subscribed; the members get them first', async () => {
    const hub = hubWith();
    const first = await hub.subscribe({ topics: ['t'] });
    const before = await hub.publish('t', 'before'); // batched for this tick, not flushed yet
    const second = await hub.subscribe({ topics: ['t'] });
    const after = await hub.publish('t', 'after');
    expect((await readEvents(first, 2)).events.map((e) => e.id)).toEqual([before, after]);
    expect((await readEvents(second, 1)).events.map((e) => e.id)).toEqual([after]);
  });
});

describe('resume with Last-Event-ID', () => {
  it('replays what was missed, then live events, with no gap and no duplicate at the seam', async () => {
    const gated = gatedBroker();
    const hub = hubWith({ broker: gated.broker });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await hub.publish('t', `e${i}`));
    for (const from of [0, 13, 29]) {
      const hold = gated.hold();
      const pending = hub.subscribe({ topics: ['t'], lastEventId: ids[from] as string });
      await hold.entered;
      // Published while the replay is being read: each must arrive exactly once.
      const during = await Promise.all([
        hub.publish('t', 'd1'),
        hub.publish('t', 'd2'),
        hub.publish('t', 'd3'),
      ]);
      ids.push(...during);
      hold.release();
      const res = await pending;
      expect(res.headers.get(RESUME_HEADER)).toBe('replay');
      const after = await hub.publish('t', 'after');
      ids.push(after);
      const expected = ids.slice(from + 1);
      const events = await readUntil(res, (e) => e.id === after);
      expect(events.map((e) => e.id)).toEqual(expected);
    }
  });

  it('keeps the seam under concurrent publishing (seeded interleavings)', async () => {
    const rnd = seeded(7);
    const inner = createMemoryBroker({ history: { maxEvents: 10_000 } });
    // History reads take 0-3 macrotasks, so the publisher keeps going between the feed following
    // the topics and the history read: those events arrive both ways and must be sent once...
    const broker: Broker = {
      ...inner,
      async history(topics, afterId, options) {
        for (let k = Math.floor(rnd() * 4); k > 0; k--) await nextMacrotask();
        const page = await inner.history(topics, afterId, options);
        // ... and events published after the read reach the subscriber only live.
        for (let k = Math.floor(rnd() * 4); k > 0; k--) await nextMacrotask();
        return page;
      },
    };
    const hub = hubWith({ broker });
    const published: string[] = [];
    const topicsOf = (i: number) => (i % 5 === 0 ? ['x', 'y'] : i % 2 ? ['x'] : ['y']);
    const record: { ids: string[]; topics: string[][] } = { ids: [], topics: [] };
    const publisher = (async () => {
      for (let i = 0; i < 600; i++) {
        const topics = topicsOf(i);
        const id = await hub.publish(topics, String(i));
        published.push(id);
        record.ids.push(id);
        record.topics.push(topics);
        if (rnd() < 0.3) await nextMacrotask();
      }
    })();
    const subs: { topics: string[]; from: string; res: Promise<Response> }[] = [];
    while (subs.length < 24) {
      await nextMacrotask();
      if (published.length === 0) continue;
      const from = published[Math.floor(rnd() * published.length)] as string;
      const topics = rnd() < 0.5 ? ['x'] : rnd() < 0.5 ? ['y'] : ['x', 'y'];
      subs.push({ topics, from, res: hub.subscribe({ topics, lastEventId: from }) });
    }
    await publisher;
    const last = await hub.publish(['x', 'y'], 'end');
    record.ids.push(last);
    record.topics.push(['x', 'y']);
    for (const sub of subs) {
      const start = record.ids.indexOf(sub.from);
      const expected = record.ids.filter(
        (_id, k) => k > start && (record.topics[k] as string[]).some((t) => sub.topics.includes(t)),
      );
      const events = await readUntil(await sub.res, (e) => e.data === 'end');
      expect(events.map((e) => e.id)).toEqual(expected);
    }
  });

  it('replays history in pages of replayPageSize, every missed event once, then goes live', async () => {
    const hub = hubWith({ replayPageSize: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await hub.publish('t', `e${i}`));
    const res = await hub.subscribe({ topics: ['t'], lastEventId: ids[0] as string });
    expect(res.headers.get(RESUME_HEADER)).toBe('replay');
    const live = await hub.publish('t', 'live');
    const events = await readUntil(res, (e) => e.id === live);
    expect(events.map((e) => e.id)).toEqual([...ids.slice(1), live]);
  });

  it('ends the stream after the pages read when history is trimmed between two pages', async () => {
    const inner = createMemoryBroker({ history: { maxEvents: 5 } });
    let reads = 0;
    const broker: Broker = {
      ...inner,
      async history(topics, afterId, options) {
        // Before the second page: publishes trim history past where the replay stands.
        if (reads++ === 1) for (let i = 0; i < 5; i++) await hub.publish('t', `trim${i}`);
        return inner.history(topics, afterId, options);
      },
    };
    const hub = hubWith({ broker, replayPageSize: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hub.publish('t', `e${i}`));
    const res = await hub.subscribe({ topics: ['t'], lastEventId: ids[0] as string });
    expect(res.headers.get(RESUME_HEADER)).toBe('replay');
    const after = await hub.publish('t', 'after');
    // The first page, then the end: the client resumes from ids[2] (and is reset then).
    const events = await readUntil(res, (e) => e.id === after);
    expect(events.map((e) => e.id)).toEqual([ids[1], ids[2]]);
    const again = await hub.subscribe({ topics: ['t'], lastEventId: ids[2] as string });
    expect(again.headers.get(RESUME_HEADER)).toBe('reset');
  });

  it('signals a reset (header and first event) when the id is older than history', async () => {
    const hub = hubWith({ history: { maxEvents: 3 } });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await hub.publish('t', String(i)));
    const res = await hub.subscribe({ topics: ['t'], lastEventId: ids[2] as string });
    expect(res.headers.get(RESUME_HEADER)).toBe('reset');
    const next = await hub.publish('t', 'live');
    const { events } = await readEvents(res, 2);
    expect(events[0]?.event).toBe(RESET_EVENT);
    expect(events[0]?.id).toBe(ids[9]); // resume from here once the state is refetched
    expect(JSON.parse(events[0]?.data as string)).toEqual({
      reason: 'history-truncated',
      lastEventId: ids[2],
    });
    expect(events[1]).toEqual({ id: next, event: 'message', data: 'live' });
    // Resuming from the reset's id replays without another reset.
    const again = await hub.subscribe({ topics: ['t'], lastEventId: ids[9] as string });
    expect(again.headers.get(RESUME_HEADER)).toBe('replay');
    expect((await readEvents(again, 1)).events.map((e) => e.id)).toEqual([next]);
    expect(hub.metrics().resets).toBe(1);
    expect(hub.metrics().replays).toBe(1);
  });

  it('treats a malformed Last-Event-ID as a reset, never as "nothing missed"', async () => {
    const hub = hubWith();
    await hub.publish('t', 'x');
    const res = await hub.handler(
      new Request('http://h/?topic=t', { headers: { 'last-event-id': 'garbage' } }),
    );
    expect(res.headers.get(RESUME_HEADER)).toBe('reset');
    expect((await readEvents(res, 1)).events[0]?.event).toBe(RESET_EVENT);
  });

  it('sends a replay larger than the queue bound in portions, each ending with a retry hint', async () => {
    const hub = hubWith({ limits: { maxQueuedBytes: 400 }, reconnectHint: { delay: 0, spread: 0 } });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await hub.publish('t', `payload-${i}`));
    const seen: string[] = [];
    let from = ids[0] as string;
    for (let round = 0; seen.length < 39 && round < 40; round++) {
      const res = await hub.subscribe({ topics: ['t'], lastEventId: from });
      if (seen.length + 20 < 39) {
        const { events, retries } = await readAll(res);
        expect(retries).toEqual([0]);
        expect(events.length).toBeGreaterThan(0);
        seen.push(...events.map((e) => e.id));
      } else {
        const { events } = await readEvents(res, 39 - seen.length);
        seen.push(...events.map((e) => e.id));
      }
      from = seen[seen.length - 1] as string;
    }
    expect(seen).toEqual(ids.slice(1));
  });

  it('reads the resume point from the lastEventId query parameter too', async () => {
    const hub = hubWith();
    const first = await hub.publish('t', '1');
    const second = await hub.publish('t', '2');
    const res = await hub.handler(new Request(`http://h/?topic=t&lastEventId=${first}`));
    expect((await readEvents(res, 1)).events.map((e) => e.id)).toEqual([second]);
  });

  // A Redis-like broker: the live feed is a separate reader that lags behind history, so events
  // a replay carried can still arrive on the feed after the replay was written.
  it('drops live events a lagging feed brings after the replay already carried them', async () => {
    const lagging = laggingBroker();
    const hub = hubWith({ broker: lagging.broker });
    const live = await hub.subscribe({ topics: ['t'] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hub.publish('t', `e${i}`));
    // History has e0..e4; the feed has delivered none of them yet.
    const resumed = await hub.subscribe({ topics: ['t'], lastEventId: ids[1] as string });
    lagging.release();
    await nextMacrotask();
    ids.push(await hub.publish('t', 'e5'));
    lagging.release();
    await nextMacrotask();
    ids.push(await hub.publish('t', 'e6'));
    lagging.release();
    // A feed that breaks its promise and sends an old event again: not resent either.
    lagging.redeliver(4);
    ids.push(await hub.publish('t', 'e7'));
    lagging.release();
    const ofLive = await readUntil(live, (e) => e.data === 'e7');
    const ofResumed = await readUntil(resumed, (e) => e.data === 'e7');
    expect(ofLive.map((e) => e.id)).toEqual(ids);
    expect(ofResumed.map((e) => e.id)).toEqual(ids.slice(2));
    // e0..e4 reached the resumed subscriber late (5), e4 came again to the group of two (2).
    expect(hub.metrics().duplicatesDropped).toBe(7);
  });

  it('a resumer that joins while the feed lags gets each event once, also with several topics', async () => {
    const rnd = seeded(11);
    const lagging = laggingBroker();
    const hub = hubWith({ broker: lagging.broker });
    const record: { id: string; topics: string[] }[] = [];
    const subs: { topics: string[]; from: string; res: Promise<Response> }[] = [];
    for (let i = 0; i < 400; i++) {
      const topics = i % 3 === 0 ? ['x', 'y'] : i % 2 ? ['x'] : ['y'];
      record.push({ id: await hub.publish(topics, String(i)), topics });
      if (rnd() < 0.3) lagging.release(Math.floor(rnd() * 4));
      if (rnd() < 0.2) await nextMacrotask();
      if (i > 10 && rnd() < 0.08) {
        const from = (record[Math.floor(rnd() * record.length)] as { id: string }).id;
        const topics = rnd() < 0.4 ? ['x'] : rnd() < 0.5 ? ['y'] : ['x', 'y'];
        subs.push({ topics, from, res: hub.subscribe({ topics, lastEventId: from }) });
      }
    }
    record.push({ id: await hub.publish(['x', 'y'], 'end'), topics: ['x', 'y'] });
    lagging.release();
    expect(subs.length).toBeGreaterThan(10);
    for (const sub of subs) {
      const start = record.findIndex((r) => r.id === sub.from);
      const expected = record
        .filter((r, k) => k > start && r.topics.some((t) => sub.topics.includes(t)))
        .map((r) => r.id);
      const events = await readUntil(await sub.res, (e) => e.data === 'end');
      expect(events.map((e) => e.id)).toEqual(expected);
    }
    expect(hub.metrics().duplicatesDropped).toBeGreaterThan(0);
  });

  it('a partial replay is not followed by events held during it (that would be a gap)', async () => {
    const gated = gatedBroker();
    const hub = hubWith({
      broker: gated.broker,
      limits: { maxQueuedBytes: 300 },
      reconnectHint: { delay: 0, spread: 0 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await hub.publish('t', `payload-${i}`));
    const hold = gated.hold();
    const pending = hub.subscribe({ topics: ['t'], lastEventId: ids[0] as string });
    await hold.entered;
    ids.push(await hub.publish('t', 'during'));
    hold.release();
    const { events } = await readAll(await pending);
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(29);
    // A contiguous run right after the resume point, nothing after a hole.
    expect(events.map((e) => e.id)).toEqual(ids.slice(1, 1 + events.length));
  });
});

/**
 * Wraps a memory broker so that its live feed lags: events queue until `release(n)` (all when
 * `n` is omitted) hands them to the hub, while history already has them.
 */
function laggingBroker(inner: Broker = createMemoryBroker({ history: { maxEvents: 10_000 } })) {
  const queue: BrokerEvent[] = [];
  const seen: BrokerEvent[] = [];
  let target: BrokerListener | null = null;
  const broker: Broker = {
    ...inner,
    subscribe(listener) {
      target = listener;
      return inner.subscribe({ onEvent: (event) => queue.push(event), onError: listener.onError });
    },
  };
  return {
    broker,
    release(n = Number.POSITIVE_INFINITY) {
      for (let k = 0; k < n && queue.length > 0; k++) {
        const event = queue.shift() as BrokerEvent;
        seen.push(event);
        target?.onEvent(event);
      }
    },
    /** Delivers the `index`-th event the feed already delivered, again. */
    redeliver(index: number) {
      target?.onEvent(seen[index] as BrokerEvent);
    },
  };
}

describe('slow consumers', () => {
  it('disconnects a subscriber past maxQueuedBytes with a retry hint; memory stays bounded', async () => {
    const max = 4096;
    const hub = hubWith({ limits: { maxQueuedBytes: max }, reconnectHint: { delay: 500, spread: 0 } });
    const slow = await hub.subscribe({ topics: ['t'] }); // never read until the end
    const fast = await hub.subscribe({ topics: ['t'] });
    const fastReader = readEvents(fast, 200);
    const payload = 'x'.repeat(100);
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      await hub.publish('t', payload);
      await nextMacrotask();
      peak = Math.max(peak, hub.metrics().queuedBytes);
    }
    expect(peak).toBeLessThanOrEqual(max + 200);
    expect(hub.metrics().slowConsumerDisconnects).toBe(1);
    expect(hub.metrics().subscribers).toBe(1);
    expect((await fastReader).events).toHaveLength(200);
    // The backlog was dropped: the slow one gets the retry hint and the end of the stream.
    const { events, retries } = await readAll(slow);
    expect(events).toEqual([]);
    expect(retries).toEqual([500]);
  });

  it('cuts a subscriber that reads nothing on heartbeats alone: live, and catching up after a resume', async () => {
    const hub = hubWith({
      heartbeat: 5,
      limits: { maxQueuedBytes: 64 },
      reconnectHint: { delay: 0, spread: 0 },
    });
    const id = await hub.publish('t', 'x');
    const live = await hub.subscribe({ topics: ['t'] }); // in its group
    // Resumed at the head: nothing to replay, it waits outside any group for the next live event.
    const resumed = await hub.subscribe({ topics: ['t'], lastEventId: id });
    expect(resumed.headers.get(RESUME_HEADER)).toBe('replay');
    const deadline = Date.now() + 2000;
    while (hub.metrics().slowConsumerDisconnects < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(hub.metrics()).toMatchObject({ slowConsumerDisconnects: 2, subscribers: 0 });
    for (const res of [live, resumed]) expect((await readAll(res)).retries).toEqual([0]);
  });

  it('cuts a resumed subscriber when the live event written to it while catching up passes the bound', async () => {
    const hub = hubWith({ limits: { maxQueuedBytes: 256 }, reconnectHint: { delay: 0, spread: 0 } });
    const id = await hub.publish('t', 'x');
    const resumed = await hub.subscribe({ topics: ['t'], lastEventId: id }); // never read until the end
    await hub.publish('t', 'y'.repeat(400));
    expect(hub.metrics()).toMatchObject({ slowConsumerDisconnects: 1, subscribers: 0 });
    await nextMacrotask();
    const { events, retries } = await readAll(resumed);
    expect(events).toEqual([]);
    expect(retries).toEqual([0]);
  });
});

describe('a broker whose history read fails', () => {
  it('answers a resume with 503 and frees the subscriber it had counted (no slot leaks)', async () => {
    const inner = createMemoryBroker();
    const broker: Broker = {
      ...inner,
      history: () => Promise.reject(new Error('store down')),
    };
    const errors: unknown[] = [];
    const hub = hubWith({ broker, onError: (e) => errors.push(e), limits: { maxSubscribersPerAddress: 1 } });
    const id = await hub.publish('t', 'x');
    for (let i = 0; i < 2; i++) {
      const res = await hub.subscribe({ topics: ['t'], lastEventId: id, clientAddress: '10.0.0.1' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
    }
    expect(errors).toHaveLength(2);
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0 });
    // The address's one slot is free again: a live subscription gets in.
    const live = await hub.subscribe({ topics: ['t'], clientAddress: '10.0.0.1' });
    expect(live.status).toBe(200);
    await live.body?.cancel();
  });
});

describe('a broker feed whose follow or unfollow fails', () => {
  /** An in-memory broker whose feed fails the next `follow` / `unfollow` when told to. */
  function flakyFeedBroker() {
    const inner = createMemoryBroker();
    const state = { failFollow: false, failUnfollow: false, unfollowed: [] as string[][] };
    const broker: Broker = {
      ...inner,
      subscribe(listener) {
        const feed = inner.subscribe(listener);
        return {
          ...feed,
          follow(topics) {
            if (!state.failFollow) return feed.follow(topics);
            state.failFollow = false;
            return Promise.reject(new Error('follow failed'));
          },
          unfollow(topics) {
            state.unfollowed.push([...topics]);
            if (!state.failUnfollow) return feed.unfollow(topics);
            state.failUnfollow = false;
            return Promise.reject(new Error('unfollow failed'));
          },
        };
      },
    };
    return { broker, state };
  }

  it('answers 503 when the feed cannot follow, never unfollows that topic, and asks again for the next subscriber', async () => {
    const { broker, state } = flakyFeedBroker();
    const errors: unknown[] = [];
    const hub = hubWith({ broker, onError: (e) => errors.push(e) });
    state.failFollow = true;
    const refused = await hub.subscribe({ topics: ['t'] });
    expect(refused.status).toBe(503);
    expect(errors).toHaveLength(1);
    expect(state.unfollowed).toEqual([]);
    const res = await hub.subscribe({ topics: ['t'] });
    expect(res.status).toBe(200);
    const id = await hub.publish('t', 'x');
    expect((await readEvents(res, 1)).events.map((e) => e.id)).toEqual([id]);
  });

  it('reports a failed unfollow to onError', async () => {
    const { broker, state } = flakyFeedBroker();
    const errors: unknown[] = [];
    const hub = hubWith({ broker, onError: (e) => errors.push(e) });
    const res = await hub.subscribe({ topics: ['t'] });
    state.failUnfollow = true;
    await res.body?.cancel();
    await nextMacrotask();
    expect(state.unfollowed).toEqual([['t']]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['unfollow failed']);
  });
});

describe('errors with no caller to go to', () => {
  it('go to console.error, prefixed "ssekit hub:", when no onError is given', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const down = new Error('store down');
      const hub = hubWith({ broker: { ...createMemoryBroker(), publish: () => Promise.reject(down) } });
      const res = await hub.handler(
        new Request('http://h/', {
          method: 'POST',
          body: JSON.stringify({ topic: 't', data: 'x' }),
          headers: { 'content-type': 'application/json' },
        }),
      );
      expect(res.status).toBe(503);
      expect(logged.mock.calls).toEqual([['ssekit hub:', down]]);
    } finally {
      logged.mockRestore();
    }
  });
});

describe('a failed broker feed', () => {
  /** An in-memory broker whose feed the test fails with `failFeed(error)`. */
  function feedFailingBroker() {
    const inner = createMemoryBroker();
    let feed: BrokerListener | null = null;
    const broker: Broker = {
      ...inner,
      subscribe(listener) {
        feed = listener;
        return inner.subscribe(listener);
      },
    };
    return { broker, failFeed: (error: unknown) => (feed as BrokerListener | null)?.onError(error) };
  }

  it('ends every stream with a retry hint, so clients resume from history; the error is reported once', async () => {
    const { broker, failFeed } = feedFailingBroker();
    const errors: unknown[] = [];
    const hub = hubWith({ broker, onError: (e) => errors.push(e), reconnectHint: { delay: 250, spread: 0 } });
    const a = await hub.subscribe({ topics: ['a'] });
    const ab = await hub.subscribe({ topics: ['a', 'b'] });
    await hub.publish('a', 'before');
    await nextMacrotask(); // flushed to both
    const lost = new Error('feed lost');
    failFeed(lost);
    for (const res of [a, ab]) {
      const { events, retries } = await readAll(res);
      expect(events.map((e) => e.data)).toEqual(['before']);
      expect(retries).toEqual([250]);
    }
    expect(errors).toEqual([lost]);
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0 });
  });

  it('ends a stream whose replay was still being read: none of the replay goes out or is counted as written or delivered', async () => {
    const { broker: failing, failFeed } = feedFailingBroker();
    const gated = gatedBroker(failing);
    const hub = hubWith({
      broker: gated.broker,
      onError: () => {},
      reconnectHint: { delay: 250, spread: 0 },
    });
    const first = await hub.publish('a', 'missed');
    await hub.publish('a', 'missed too');
    const hold = gated.hold();
    const pending = hub.subscribe({ topics: ['a'], lastEventId: first });
    await hold.entered;
    failFeed(new Error('feed lost'));
    hold.release();
    const res = await pending;
    const { events, retries } = await readAll(res);
    expect(events).toEqual([]);
    expect(retries).toEqual([250]);
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0, bytesWritten: 0, eventsDelivered: 0 });
  });

  it('writes the batch still pending for this tick before it ends the streams', async () => {
    const { broker, failFeed } = feedFailingBroker();
    const hub = hubWith({ broker, onError: () => {}, reconnectHint: { delay: 250, spread: 0 } });
    const a = await hub.subscribe({ topics: ['a'] });
    await hub.publish('a', 'before');
    await nextMacrotask(); // flushed
    await hub.publish('a', 'pending'); // arrived, batched for the end of this tick
    failFeed(new Error('feed lost'));
    const { events, retries } = await readAll(a);
    expect(events.map((e) => e.data)).toEqual(['before', 'pending']);
    expect(retries).toEqual([250]);
  });
});

describe('limits', () => {
  it('answers 503 with Retry-After (retryAfter ms in whole seconds, rounded up) past maxSubscribers and per address', async () => {
    const hub = hubWith({ limits: { maxSubscribers: 3, maxSubscribersPerAddress: 2 }, retryAfter: 6001 });
    const req = () => new Request('http://h/?topic=t');
    expect((await hub.handler(req(), { clientAddress: '10.0.0.1' })).status).toBe(200);
    const second = await hub.handler(req(), { clientAddress: '10.0.0.1' });
    expect(second.status).toBe(200);
    const perAddress = await hub.handler(req(), { clientAddress: '10.0.0.1' });
    expect(perAddress.status).toBe(503);
    expect(perAddress.headers.get('retry-after')).toBe('7');
    expect((await hub.handler(req(), { clientAddress: '10.0.0.2' })).status).toBe(200);
    const total = await hub.handler(req(), { clientAddress: '10.0.0.3' });
    expect(total.status).toBe(503);
    expect(total.headers.get('retry-after')).toBe('7');
    // A slot frees when a subscriber leaves.
    await second.body?.cancel();
    expect(hub.metrics().subscribers).toBe(2);
    expect((await hub.handler(req(), { clientAddress: '10.0.0.1' })).status).toBe(200);
    expect(hub.metrics().rejected).toEqual({ 503: 2 });
  });

  it('answers 400 past maxTopics and for bad topics', async () => {
    const hub = hubWith({ limits: { maxTopics: 2 } });
    expect((await hub.handler(new Request('http://h/?topic=a&topic=b&topic=c'))).status).toBe(400);
    expect((await hub.handler(new Request('http://h/'))).status).toBe(400);
    expect((await hub.handler(new Request('http://h/?topic=a&topic=b&topic=a'))).status).toBe(200);
    await expect(hub.publish(['a', 'b', 'c'], 'x')).rejects.toSatisfy(
      (e) => isHubInputError(e) && e.type === 'too-many-topics',
    );
  });

  it('answers 400 for a topic longer than maxTopicLength (default 256 characters)', async () => {
    const hub = hubWith({ limits: { maxTopicLength: 8 } });
    expect((await hub.handler(new Request(`http://h/?topic=${'a'.repeat(9)}`))).status).toBe(400);
    await expect(hub.publish('a'.repeat(9), 'x')).rejects.toSatisfy(
      (e) => isHubInputError(e) && e.type === 'invalid-topic',
    );
    const post = await hub.handler(
      new Request('http://h/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'a'.repeat(9), data: 'x' }),
      }),
    );
    expect(post.status).toBe(400);
    const ok = await hub.handler(new Request(`http://h/?topic=${'a'.repeat(8)}`));
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    const byDefault = hubWith();
    expect((await byDefault.subscribe({ topics: ['a'.repeat(257)] })).status).toBe(400);
    await expect(byDefault.publish('a'.repeat(257), 'x')).rejects.toSatisfy(isHubInputError);
    expect(hub.metrics().eventsPublished + byDefault.metrics().eventsPublished).toBe(0);
  });

  it('answers 400 for a publish body that is JSON but not an event object (null, a number, a string)', async () => {
    const hub = hubWith();
    for (const body of ['null', '5', '"t"', '[]', '{"topic":"t"}', '{"topic":"t","data":5}']) {
      const res = await hub.handler(
        new Request('http://h/', { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      );
      expect(res.status, body).toBe(400);
    }
    expect(hub.metrics().eventsPublished).toBe(0);
    expect(hub.metrics().rejected).toEqual({ 400: 6 });
  });

  it('answers 413 past maxPublishBytes, with or without Content-Length', async () => {
    const hub = hubWith({ limits: { maxPublishBytes: 100 } });
    const big = JSON.stringify({ topic: 't', data: 'x'.repeat(200) });
    const json = { 'content-type': 'application/json' };
    const refused = await hub.handler(new Request('http://h/', { method: 'POST', body: big, headers: json }));
    expect(refused.status).toBe(413);
    // The rest of the body is not read: the connection must not be reused for a next request.
    expect(refused.headers.get('connection')).toBe('close');
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(30)));
        c.close();
      },
    });
    const streamed = new Request('http://h/', {
      method: 'POST',
      headers: json,
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect((await hub.handler(streamed)).status).toBe(413);
    const ok = await hub.handler(
      new Request('http://h/', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ topic: 't', data: 'hi' }),
      }),
    );
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: expect.stringMatching(/^\d+-\d+$/) });
    expect(
      (await hub.handler(new Request('http://h/', { method: 'POST', headers: json, body: 'nope' }))).status,
    ).toBe(400);
    expect((await hub.handler(new Request('http://h/', { method: 'PUT', body: '' }))).status).toBe(405);
  });
});

describe('graceful shutdown', () => {
  it('lets in-flight publishes land, then ends every stream with a retry hint of delay plus a random share of the spread', async () => {
    const inner = createMemoryBroker();
    const gate = deferred();
    let entered = deferred();
    const broker: Broker = {
      ...inner,
      async publish(topics, event) {
        entered.resolve();
        await gate.promise;
        return inner.publish(topics, event);
      },
    };
    const randoms = [0.1, 0.5, 0.9];
    const hub = hubWith({
      broker,
      reconnectHint: { delay: 1000, spread: 2000 },
      random: () => randoms.shift() ?? 0,
    });
    const streams = await Promise.all([0, 1, 2].map(() => hub.subscribe({ topics: ['t'] })));
    const inFlight = hub.publish('t', 'last words');
    await entered.promise;
    entered = deferred();
    const closing = hub.close();
    // Closing: no new work.
    expect((await hub.handler(new Request('http://h/?topic=t'))).status).toBe(503);
    await expect(hub.publish('t', 'too late')).rejects.toSatisfy(isHubClosedError);
    gate.resolve();
    const id = await inFlight;
    await closing;
    const results = await Promise.all(streams.map(readAll));
    for (const r of results) expect(r.events.map((e) => e.id)).toEqual([id]);
    expect(results.map((r) => r.retries[0]).sort()).toEqual([1200, 2000, 2800]);
    expect(hub.metrics().subscribers).toBe(0);
  });

  it('reconnectHint.spread is ms, checked like every numeric option (0 allowed: no random part)', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1.5]) {
      expect(() => createHub({ heartbeat: false, reconnectHint: { spread: bad } }), String(bad)).toThrow(
        `reconnectHint.spread must be a non-negative integer, got ${bad}`,
      );
    }
    expect(() => createHub({ heartbeat: false, reconnectHint: { spread: 0 } })).not.toThrow();
  });
});

describe('requests that close() overtakes while they wait', () => {
  const json = { 'content-type': 'application/json' };
  const post = (body: string) => new Request('http://h/', { method: 'POST', body, headers: json });

  it('a subscribe waiting on authorize gets 503 shutting down (HEAD too) and leaves no subscriber', async () => {
    const gate = deferred();
    let waiting = 0;
    const hub = hubWith({
      authorize: async () => {
        waiting++;
        await gate.promise;
        return true;
      },
    });
    const get = hub.handler(new Request('http://h/?topic=t'));
    const head = hub.handler(new Request('http://h/?topic=t', { method: 'HEAD' }));
    while (waiting < 2) await nextMacrotask();
    await hub.close();
    gate.resolve();
    for (const res of await Promise.all([get, head])) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.text()).toBe('shutting down\n');
    }
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0, rejected: { 503: 2 } });
  });

  it('a resume still reading history gets 503 shutting down, its subscriber freed before close() ends', async () => {
    // close() waits on a publish in flight; the resume's history read ends in that window.
    const inner = createMemoryBroker();
    const publishGate = deferred();
    let gatePublishes = false;
    const gated = gatedBroker({
      ...inner,
      async publish(topics, event) {
        if (gatePublishes) await publishGate.promise;
        return inner.publish(topics, event);
      },
    });
    const hub = hubWith({ broker: gated.broker });
    const first = await hub.publish('t', 'old');
    const hold = gated.hold();
    const pending = hub.subscribe({ topics: ['t'], lastEventId: first });
    await hold.entered;
    expect(hub.metrics().subscribers).toBe(1);
    gatePublishes = true;
    const inFlight = hub.publish('t', 'in flight');
    const closing = hub.close({ timeout: 1000 });
    hold.release();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('shutting down\n');
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0 });
    publishGate.resolve();
    await inFlight;
    await closing;
  });

  it('a publish after close() gets 503 whatever its body, and authorize is not asked', async () => {
    let asked = 0;
    const hub = hubWith({
      authorize: () => {
        asked++;
        return true;
      },
    });
    await hub.close();
    for (const body of ['{', JSON.stringify({ topic: 't', data: 'x' })]) {
      const res = await hub.handler(post(body));
      expect(res.status).toBe(503);
      expect(await res.text()).toBe('shutting down\n');
    }
    expect(asked).toBe(0);
  });

  it('a publish whose authorize close() overtakes gets 503 shutting down, not an error report', async () => {
    const gate = deferred();
    const entered = deferred();
    const errors: unknown[] = [];
    const hub = hubWith({
      onError: (error) => errors.push(error),
      authorize: async () => {
        entered.resolve();
        await gate.promise;
        return true;
      },
    });
    const pending = hub.handler(post(JSON.stringify({ topic: 't', data: 'x' })));
    await entered.promise;
    await hub.close();
    gate.resolve();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.text()).toBe('shutting down\n');
    expect(errors).toEqual([]);
    expect(hub.metrics().eventsPublished).toBe(0);
  });
});

describe('heartbeats', () => {
  it('writes a comment to every subscriber each interval', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const hub = hubWith({ heartbeat: 1000 });
    const res = await hub.subscribe({ topics: ['t'] });
    vi.advanceTimersByTime(3000);
    await hub.close();
    const { comments } = await readAll(res);
    expect(comments).toBe(1 + 3); // the opening comment, then three heartbeats
  });

  it('defaults to every 10 s, and every 5 s under Bun (its server cuts a connection after 10 s without a write)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const counts: number[] = [];
    for (const bun of [false, true]) {
      if (bun) vi.stubGlobal('Bun', {});
      try {
        const hub = createHub();
        hubs.push(hub);
        const res = await hub.subscribe({ topics: ['t'] });
        vi.advanceTimersByTime(20_000);
        await hub.close();
        counts.push((await readAll(res)).comments - 1); // less the opening comment
      } finally {
        vi.unstubAllGlobals();
      }
    }
    expect(counts).toEqual([2, 4]);
  });
});

describe('metrics', () => {
  it('counts subscribers, topics, events and bytes, and renders Prometheus text', async () => {
    const hub = hubWith();
    const a = await hub.subscribe({ topics: ['a'] });
    const b = await hub.subscribe({ topics: ['a', 'b'] });
    await hub.publish('a', '12345');
    await hub.publish('b', '12345');
    await hub.publish('zzz', '12345');
    await Promise.all([readEvents(a, 1), readEvents(b, 2)]);
    const m = hub.metrics();
    expect(m).toMatchObject({ subscribers: 2, topics: 2, eventsPublished: 3, eventsDelivered: 3 });
    const eventBytes = (id: string) => `id: ${id}\ndata: 12345\n\n`.length;
    expect(m.bytesWritten).toBeGreaterThanOrEqual(3 * eventBytes('1-0'));
    const text = hub.prometheus({ worker: '1' });
    expect(text).toContain('# TYPE ssekit_hub_events_delivered_total counter');
    expect(text).toContain('ssekit_hub_events_delivered_total{worker="1"} 3');
    expect(text).toContain('ssekit_hub_subscribers{worker="1"} 2');
    await a.body?.cancel();
    expect(hub.metrics()).toMatchObject({ subscribers: 1, topics: 2 });
    await b.body?.cancel();
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0 });
  });

  it('counts the events of a replay as delivered once they are written', async () => {
    const hub = hubWith();
    const first = await hub.publish('a', 'one');
    await hub.publish('a', 'two');
    await hub.publish('a', 'three');
    const res = await hub.subscribe({ topics: ['a'], lastEventId: first });
    expect((await readEvents(res, 2)).events.map((e) => e.data)).toEqual(['two', 'three']);
    expect(hub.metrics()).toMatchObject({ eventsDelivered: 2 });
    await res.body?.cancel();
  });

  it('renders refusals by status, and samples without braces when there are no labels', async () => {
    const hub = hubWith();
    await hub.handler(new Request('http://h/', { method: 'PUT', body: '' }));
    await hub.handler(new Request('http://h/'));
    await hub.handler(new Request('http://h/'));
    const text = hub.prometheus();
    expect(text).toContain('ssekit_hub_subscribers 0\n');
    expect(text).toContain('# TYPE ssekit_hub_requests_rejected_total counter\n');
    expect(text).toContain('ssekit_hub_requests_rejected_total{status="400"} 2\n');
    expect(text).toContain('ssekit_hub_requests_rejected_total{status="405"} 1\n');
    expect(hub.prometheus({ worker: '2' })).toContain(
      'ssekit_hub_requests_rejected_total{worker="2",status="405"} 1\n',
    );
  });

  it('escapes label values in Prometheus text (backslash, double quote, line feed)', () => {
    const hub = hubWith();
    const text = hub.prometheus({ worker: 'a"b\\c\nd' });
    expect(text).toContain('ssekit_hub_subscribers{worker="a\\"b\\\\c\\nd"} 0\n');
    // Every sample stays on one line: a raw line feed would split it.
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) |ssekit_hub_\w+\{)/);
  });
});
