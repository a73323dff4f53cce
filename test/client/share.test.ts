/**
 * `connectShared` in Node. Node 20 has `BroadcastChannel` but no `navigator.locks`: there it
 * falls back to a connection of its own. With a Web Locks stand-in (exclusive locks, granted in
 * request order, a pending request aborted by its signal, as the Web Locks API specifies), the
 * instances of one process share a connection the way the tabs of an origin do; the real thing,
 * in Chromium with many tabs, is test/e2e/share.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isHttpError } from '../../src/client/errors.js';
import { connectShared, isShareLagError, type SharedConnection } from '../../src/client/share.js';
import type { ServerSentEvent } from '../../src/protocol/types.js';
import { serve, steppedProducer, tokens } from '../replies/helpers.js';
import { type Feed, startFeed } from './share-feed.js';

/** Exclusive Web Locks in one process: the callback's promise holds the lock. */
function fakeLocks() {
  const queues = new Map<string, (() => void)[]>();
  const held = new Set<string>();
  const next = (name: string) => {
    const run = queues.get(name)?.shift();
    if (run) run();
  };
  return {
    request(name: string, options: { signal?: AbortSignal }, callback: () => unknown): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const run = () => {
          options.signal?.removeEventListener('abort', abort);
          held.add(name);
          Promise.resolve()
            .then(callback)
            .then(resolve, reject)
            .finally(() => {
              held.delete(name);
              next(name);
            });
        };
        const abort = () => {
          const queue = queues.get(name) ?? [];
          if (queue.includes(run)) {
            queue.splice(queue.indexOf(run), 1);
            reject(new DOMException('aborted', 'AbortError'));
          }
        };
        options.signal?.addEventListener('abort', abort);
        if (!queues.has(name)) queues.set(name, []);
        queues.get(name)!.push(run);
        if (!held.has(name) && queues.get(name)!.length === 1) next(name);
      });
    },
  };
}

/** Iterates a connection into an array, in the background. */
function record(connection: SharedConnection) {
  const events: ServerSentEvent[] = [];
  const done = (async () => {
    for await (const event of connection) events.push(event);
  })().catch((error: unknown) => error);
  return { events, ids: () => events.map((e) => Number(e.id)), done };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let feed: Feed;
const opened: SharedConnection[] = [];
const open = (path = '/feed', init = {}) => {
  const connection = connectShared(`${feed.url}${path}`, { reconnect: { initialDelay: 50 }, ...init });
  opened.push(connection);
  return connection;
};

beforeEach(async () => {
  feed = await startFeed();
});

afterEach(async () => {
  for (const connection of opened.splice(0)) connection.close();
  vi.unstubAllGlobals();
  await feed.close();
});

describe('without Web Locks (Node 20)', () => {
  it('opens a connection of its own, as connect does', async () => {
    expect((globalThis as { navigator?: { locks?: unknown } }).navigator?.locks).toBeUndefined();
    const a = record(open());
    const b = record(open());
    await feed.until(() => feed.open === 2, 5000, 'two streams');
    feed.publish(3);
    await feed.until(() => a.events.length === 3 && b.events.length === 3);
    expect(a.ids()).toEqual([1, 2, 3]);
    expect(b.ids()).toEqual([1, 2, 3]);
    expect(opened.every((c) => c.leading)).toBe(true);
  });

  it('onOpen and onReconnect are those of connect', async () => {
    const told: string[] = [];
    record(
      open('/feed', {
        onOpen: (response: Response) => void told.push(`open ${response.headers.get('x-stream')}`),
        onReconnect: (delay: number) => void told.push(`reconnect ${delay}`),
      }),
    );
    await feed.until(() => told.length === 1, 5000, 'open');
    feed.cut();
    await feed.until(() => told.length === 3, 5000, 'reopened');
    expect(told).toEqual(['open 1', 'reconnect 50', 'open 2']);
  });

  it('opens a connection of its own when BroadcastChannel is missing', async () => {
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    vi.stubGlobal('BroadcastChannel', undefined);
    record(open());
    record(open());
    await feed.until(() => feed.open === 2, 5000, 'two streams');
    expect(feed.requests).toHaveLength(2);
  });
});

describe('with Web Locks and BroadcastChannel', () => {
  beforeEach(() => {
    vi.stubGlobal('navigator', { locks: fakeLocks() });
  });

  it('shares one connection: every instance gets every event; one leads', async () => {
    const tabs = [open(), open(), open()].map(record);
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    feed.publish(20);
    await feed.until(() => tabs.every((t) => t.events.length === 20), 5000, 'all events');
    for (const tab of tabs) expect(tab.ids()).toEqual(range(1, 20));
    expect(feed.requests).toHaveLength(1);
    expect(opened.filter((c) => c.leading)).toHaveLength(1);
    expect(opened.map((c) => c.lastEventId)).toEqual(['20', '20', '20']);
    expect(opened.map((c) => c.readyState)).toEqual([1, 1, 1]);
  });

  it('a different request (another header) is another stream', async () => {
    record(open());
    record(open('/feed', { headers: { 'x-room': 'b' } }));
    await feed.until(() => feed.open === 2, 5000, 'two streams');
    expect(opened.every((c) => c.leading)).toBe(true);
  });

  it('another body or another method is another stream', async () => {
    record(open('/feed', { method: 'POST', body: 'a' }));
    record(open('/feed', { method: 'POST', body: 'b' }));
    await feed.until(() => feed.open === 2, 5000, 'two streams by body');
    record(open('/feed', { method: 'PUT', body: 'a' }));
    await feed.until(() => feed.open === 3, 5000, 'a third stream by method');
    expect(opened.every((c) => c.leading)).toBe(true);
  });

  it("headers as a function: one stream for all, and each attempt calls the leader's function", async () => {
    const calls = { a: 0, b: 0 };
    // Two functions, as two tabs have: a function is no part of what identifies the stream.
    const tabs = [
      open('/feed', {
        headers: async function a() {
          return { authorization: `Bearer a-${++calls.a}` };
        },
      }),
      open('/feed', {
        headers: async function b() {
          return { authorization: `Bearer b-${++calls.b}` };
        },
      }),
    ];
    tabs.map(record);
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    const leader = tabs[0]!.leading ? 'a' : 'b';
    const next = leader === 'a' ? 'b' : 'a';
    expect(feed.requests.map((r) => r.authorization)).toEqual([`Bearer ${leader}-1`]);
    tabs[leader === 'a' ? 0 : 1]!.close();
    await feed.until(() => feed.requests.length === 2, 5000, 'the new leader');
    expect(feed.requests.map((r) => r.authorization)).toEqual([`Bearer ${leader}-1`, `Bearer ${next}-1`]);
    expect(calls).toEqual({ [leader]: 1, [next]: 1 });
  });

  it('onOpen and onReconnect are told in every tab; a late tab hears at once that the stream is open', async () => {
    const told: string[][] = [[], [], []];
    const tell = (tab: number) => ({
      onOpen: (response: Response) => void told[tab]!.push(`open ${response.headers.get('x-stream')}`),
      onReconnect: (delay: number) => void told[tab]!.push(`reconnect ${delay}`),
    });
    record(open('/feed', tell(0)));
    record(open('/feed', tell(1)));
    await feed.until(() => told[0]!.length === 1 && told[1]!.length === 1, 5000, 'two tabs told');
    // Every tab sees the headers of the leader's response (the stream's number, here).
    expect(told.slice(0, 2)).toEqual([['open 1'], ['open 1']]);
    record(open('/feed', tell(2)));
    await feed.until(() => told[2]!.length === 1, 5000, 'the late tab told');
    expect(told[2]).toEqual(['open 1']);
    feed.cut();
    await feed.until(() => told.every((t) => t.length >= 3), 5000, 'the reopening told');
    expect(told).toEqual(Array(3).fill(['open 1', 'reconnect 50', 'open 2']));
    expect(feed.requests).toHaveLength(2);
  });

  it('hands over when the leader closes: resumes from the last id, nothing lost or repeated', async () => {
    const tabs = [open(), open(), open()].map(record);
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    feed.publish(5);
    await feed.until(() => tabs.every((t) => t.events.length === 5));
    const leader = opened.findIndex((c) => c.leading);
    const publishing = feed.publishSteadily(200, 2000);
    await feed.until(() => feed.last >= 50);
    opened[leader]!.close();
    await publishing;
    const rest = tabs.filter((_, i) => i !== leader);
    await feed.until(() => rest.every((t) => t.events.length === 205), 5000, 'every event');
    for (const tab of rest) expect(tab.ids()).toEqual(range(1, 205));
    expect(feed.requests).toHaveLength(2);
    // Resumed from where the new leader was, not from the start nor from now.
    expect(Number(feed.requests[1]!.lastEventId)).toBeGreaterThanOrEqual(5);
    expect(opened.filter((c) => c.leading)).toHaveLength(1);
    expect(feed.open).toBe(1);
  });

  it('a shared POST answered with a reply: a new leader resumes it by GET of its URL, never posting again', async () => {
    const producer = steppedProducer(6);
    const app = await serve({ produce: producer.produce });
    try {
      const init = { method: 'POST', body: '{}', reconnect: { initialDelay: 20 } };
      const a = connectShared(`${app.url}/chat`, init);
      const b = connectShared(`${app.url}/chat`, init);
      opened.push(a, b);
      const [ta, tb] = [record(a), record(b)];
      producer.step(1);
      producer.step(2);
      await feed.until(() => tb.events.length >= 2 && ta.events.length >= 2, 5000, 'two tokens');
      const [leader, follower] = a.leading ? [a, b] : [b, a];
      const followerEvents = leader === a ? tb : ta;
      expect(follower.replyUrl).toBe(leader.replyUrl);
      leader.close();
      for (let i = 3; i <= 6; i++) producer.step(i);
      await followerEvents.done;
      expect(tokens(followerEvents.events)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6']);
      expect(followerEvents.events.at(-1)?.event).toBe('end');
      // One POST: the new leader resumed with a GET of the reply's URL and Last-Event-ID.
      // (A second GET, after the end, gets the 204 that stops it.)
      expect(app.replies.metrics().started).toBe(1);
      expect(app.replies.metrics().resumed).toBeGreaterThanOrEqual(1);
      expect(producer.state.runs).toBe(1);
    } finally {
      producer.finish();
      await app.close();
    }
  });

  it('a late instance gets the last event id at once, then the events from then on', async () => {
    const first = record(open());
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    feed.publish(7);
    await feed.until(() => first.events.length === 7);
    const late = open();
    await feed.until(() => late.lastEventId === '7', 5000, 'the last id');
    expect(late.readyState).toBe(1);
    const events = record(late);
    feed.publish(3);
    await feed.until(() => events.events.length === 3);
    expect(events.ids()).toEqual([8, 9, 10]);
    expect(feed.requests).toHaveLength(1);
  });

  it('a fatal error ends every instance, with the error under its name', async () => {
    const tabs = [open('/401'), open('/401')].map(record);
    const errors = await Promise.all(tabs.map((t) => t.done));
    expect(feed.requests).toHaveLength(1);
    for (const error of errors) {
      // In the tabs that did not lead too: an Error, not the bare fields that crossed the channel.
      expect(error).toBeInstanceOf(Error);
      expect(isHttpError(error)).toBe(true);
      expect((error as { status: number }).status).toBe(401);
    }
  });

  it("the leader's onOpen refusing the response ends every instance, the error's name and message kept", async () => {
    // A TypeError's name is its prototype's, not a field of its own: it still crosses to the others.
    const refusing = () => {
      const connection: SharedConnection = open('/feed', {
        onOpen() {
          if (connection.leading) throw new TypeError('refused');
        },
      });
      return connection;
    };
    const tabs = [refusing(), refusing()].map(record);
    const errors = await Promise.all(tabs.map((t) => t.done));
    expect(feed.requests).toHaveLength(1);
    for (const error of errors) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('TypeError');
      expect((error as Error).message).toBe('refused');
    }
  });

  it("a follower's onOpen that rejects ends that tab's stream with its error (no unhandled rejection); the leader's goes on", async () => {
    const tab = () => {
      const connection: SharedConnection = open('/feed', {
        async onOpen() {
          if (!connection.leading) throw new Error('the follower refuses');
        },
      });
      return connection;
    };
    const [first, second] = [tab(), tab()];
    const [a, b] = [first, second].map(record);
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    const follower = first?.leading ? b : a;
    const leader = first?.leading ? first : second;
    const ended = await Promise.race([
      follower?.done,
      new Promise((resolve) => setTimeout(resolve, 5000, 'still open')),
    ]);
    expect(ended).toMatchObject({ message: 'the follower refuses' });
    expect(leader?.readyState).toBe(1);
  });

  it("options connect refuses (a body on a GET) end every instance with connect's error, none waits forever", async () => {
    const tabs = [open('/feed', { body: 'x' }), open('/feed', { body: 'x' })].map(record);
    const errors = await Promise.all(tabs.map((t) => t.done));
    expect(feed.requests).toHaveLength(0);
    for (const error of errors) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('BodyError');
    }
  });

  it('a signal aborted already: closed at once, no request, never leads', async () => {
    const controller = new AbortController();
    controller.abort();
    const connection = open('/feed', { signal: controller.signal });
    expect(connection.readyState).toBe(2);
    await connection.closed;
    const tab = record(connection);
    await tab.done;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(feed.requests).toHaveLength(0);
    expect(connection.leading).toBe(false);
  });

  it('an aborted signal closes it', async () => {
    const controller = new AbortController();
    const tab = record(open('/feed', { signal: controller.signal }));
    await feed.until(() => feed.open === 1, 5000, 'the stream');
    controller.abort();
    await tab.done;
    await feed.until(() => feed.open === 0, 5000, 'the stream closed');
    expect(opened[0]!.readyState).toBe(2);
  });
});

describe('the seam of a hand-over, with the leader played by the test', () => {
  const key = (url: string) => `ssekit:${JSON.stringify([url, 'GET', [], null])}`;
  let release: () => void;

  beforeEach(async () => {
    const locks = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    // The test holds the lock, so the instance stays a follower.
    await new Promise<void>((granted) => {
      void locks.request(key(`${feed.url}/feed`), {}, () => {
        granted();
        return new Promise<void>((resolve) => (release = resolve));
      });
    });
  });
  afterEach(() => release());

  const event = (id: string): ServerSentEvent => ({ event: 'message', data: id || 'x', id });

  it('drops what a new leader replays from behind, and what a former leader sends late', async () => {
    const tab = record(open());
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    for (const id of ['1', '2', '3', '4', '5']) leader.postMessage({ e: 1, v: event(id) });
    // The next leader had seen up to 3: it resumes from there.
    for (const id of ['4', '5', '6', '7']) leader.postMessage({ e: 2, v: event(id) });
    leader.postMessage({ e: 1, v: event('6') });
    leader.postMessage({ e: 2, v: event('8') });
    await feed.until(() => tab.events.length >= 8);
    await new Promise((resolve) => setTimeout(resolve, 50));
    leader.close();
    expect(tab.ids()).toEqual(range(1, 8));
    expect(opened[0]!.lastEventId).toBe('8');
  });

  it("a new leader's answer to a late tab does not take lastEventId back behind what was delivered", async () => {
    const tab = record(open());
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    for (const id of ['1', '2', '3', '4', '5']) leader.postMessage({ e: 1, v: event(id) });
    await feed.until(() => tab.events.length === 5);
    // The next leader had seen up to 3 when it answered another tab's `hi`.
    leader.postMessage({ e: 2, id: '3', s: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(opened[0]!.lastEventId).toBe('5');
    leader.close();
  });

  it('close() drops the events not read yet: iteration ends at once', async () => {
    const connection = open();
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    for (const id of ['1', '2', '3']) leader.postMessage({ e: 1, v: event(id) });
    await feed.until(() => connection.lastEventId === '3');
    connection.close();
    const tab = record(connection);
    await tab.done;
    leader.close();
    expect(tab.events).toEqual([]);
    expect(connection.readyState).toBe(2);
  });

  it('keeps every event of a stream without ids across a change of leader', async () => {
    const tab = record(open());
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    leader.postMessage({ e: 1, v: event('') });
    leader.postMessage({ e: 2, v: event('') });
    leader.postMessage({ e: 2, v: event('') });
    await feed.until(() => tab.events.length === 3);
    leader.close();
    expect(tab.events.map((e) => e.id)).toEqual(['', '', '']);
  });

  it('a reader that falls 10,000 events behind ends with a ShareLagError', async () => {
    const connection = open();
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    for (let i = 1; i <= 10_001; i++) leader.postMessage({ e: 1, v: event(String(i)) });
    const error = await connection.closed.catch((e: unknown) => e);
    leader.close();
    expect(isShareLagError(error)).toBe(true);
  });

  it('a reader that falls 16 Mi characters of data behind ends with a ShareLagError', async () => {
    const connection = open();
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    const big = 'x'.repeat(9_000_000);
    leader.postMessage({ e: 1, v: { event: 'message', data: big, id: '1' } });
    leader.postMessage({ e: 1, v: { event: 'message', data: big, id: '2' } });
    const error = await connection.closed.catch((e: unknown) => e);
    leader.close();
    expect(isShareLagError(error)).toBe(true);
  });

  it('a reader that keeps up is not ended however much data goes through', async () => {
    const tab = record(open());
    const leader = new BroadcastChannel(key(`${feed.url}/feed`));
    const big = 'x'.repeat(2 ** 21);
    // 9 x 2 Mi characters: past 16 Mi in all, never more than one event waiting.
    for (let i = 1; i <= 9; i++) {
      leader.postMessage({ e: 1, v: { event: 'message', data: big, id: String(i) } });
      await feed.until(() => tab.events.length === i, 5000, `event ${i}`);
    }
    leader.close();
    expect(opened[0]!.readyState).not.toBe(2);
  });
});
