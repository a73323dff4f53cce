import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerEvent, BrokerListener } from '../../src/hub/index.js';
import { createFeed } from '../../src/replies/feed.js';
import { createReplies, type Produce, type Replies } from '../../src/replies/index.js';
import { topicsOf } from '../../src/replies/log.js';
import { FirstPage, ReplyWatch } from '../../src/replies/reader.js';
import {
  deafenable,
  deferred,
  expectWholeOnce,
  get,
  type Instance,
  readThenDrop,
  Stream,
  serve,
  settles,
  sharedBroker,
  steppedProducer,
  tokens,
} from './helpers.js';

const instances: Instance[] = [];
const closers: Replies[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
  await Promise.all(closers.splice(0).map((r) => r.close({ timeout: 0 })));
});

const N = 20;
const ALL = Array.from({ length: N }, (_, i) => `t${i + 1}`);

describe('replies: resume at every token boundary (real sockets)', () => {
  // After k tokens the client drops (a reload); it resumes with the last id it saw while the
  // producer goes on before, during, or after the reconnect.
  for (const when of ['before', 'during', 'after'] as const) {
    it(`loses and repeats nothing, the producer ${when} the reconnect`, async () => {
      const app = await serve();
      instances.push(app);
      for (let k = 0; k <= N; k++) {
        const p = steppedProducer(N);
        app.setProducer(p.produce);
        const { location, seen } = await readThenDrop(app.url, p, k);
        const last = k === 0 ? undefined : seen.at(-1)?.id;
        let second: Stream;
        if (when === 'before') {
          p.finish();
          second = await get(app.url, location, last);
        } else if (when === 'during') {
          const pending = get(
            app.url,
            k % 2 === 0 ? location : `${location}?lastEventId=${last ?? ''}`,
            k % 2 === 0 ? last : undefined,
          );
          p.finish();
          second = await pending;
        } else {
          second = await get(app.url, location, last);
          p.finish();
        }
        expect(second.status).toBe(200);
        const rest = await second.rest();
        expectWholeOnce(seen, rest, ALL, p, `k=${k}`);
      }
    });
  }
});

/** Reads a Response (not over a socket) as a Stream. */
const streamOf = (response: Response): Stream => new Stream(response, new AbortController());

/** A broker whose history reads of reply logs (not control topics) wait for the test. */
function gatedLog(inner: Broker) {
  let gate: { entered: () => void; wait: Promise<void>; readFirst: boolean } | null = null;
  const broker: Broker = {
    ...inner,
    async history(topics, afterId, options) {
      const held = gate;
      if (held !== null && !(topics[0] as string).endsWith('/control')) {
        gate = null;
        held.entered();
        if (held.readFirst) {
          const page = await inner.history(topics, afterId, options);
          await held.wait;
          return page;
        }
        await held.wait;
      }
      return inner.history(topics, afterId, options);
    },
  };
  return {
    broker,
    hold(readFirst: boolean) {
      const entered = deferred();
      const release = deferred();
      gate = { entered: entered.resolve, wait: release.promise, readFirst };
      return { entered: entered.promise, release: release.resolve };
    },
  };
}

/** A producer the test drives: `push(token)` sends one, `end()` finishes. */
function drivenProducer() {
  let send!: (token: string) => Promise<boolean>;
  const ready = deferred();
  const done = deferred();
  const produce: Produce = async (reply) => {
    send = reply.send;
    ready.resolve();
    await done.promise;
  };
  return {
    produce,
    ready: ready.promise,
    push: (token: string) => send(token),
    end: () => done.resolve(),
  };
}

async function startReply(replies: Replies, produce: Produce) {
  const response = await replies.start(new Request('http://x/chat', { method: 'POST' }), produce);
  const location = response.headers.get('content-location') as string;
  await response.body?.cancel();
  return location;
}

const getReply = async (replies: Replies, location: string, lastEventId?: string) =>
  streamOf(
    await replies.handler(
      new Request(`http://x${location}`, {
        headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
      }),
    ),
  );

/**
 * A reply started on `replies` has sent `a` and `b`; a reader took `a` and left. Returns the
 * producer, the reply's URL and the id of `a`.
 */
async function leftAfterA(replies: Replies) {
  const p = drivenProducer();
  const location = await startReply(replies, p.produce);
  await p.ready;
  await p.push('a');
  await p.push('b');
  const first = await getReply(replies, location);
  const [a] = await first.take(1);
  first.disconnect();
  return { p, location, a: a?.id };
}

/**
 * {@link leftAfterA} on `producing`, then the reader resumes from `a` on `reading`, whose log
 * read `gated` holds (page taken first or not). Returns the producer, and `finish` for when the
 * test has published what it needs during the hold.
 */
async function resumeHeldAfterA(
  producing: Replies,
  reading: Replies,
  gated: ReturnType<typeof gatedLog>,
  readFirst: boolean,
) {
  const { p, location, a } = await leftAfterA(producing);
  const hold = gated.hold(readFirst);
  const resumed = getReply(reading, location, a);
  await hold.entered;
  /** Lets the held page go, sends `e` and ends the reply: what the resumed reader read. */
  const finish = async () => {
    hold.release();
    const stream = await resumed;
    await p.push('e');
    p.end();
    return stream.rest();
  };
  return { p, finish };
}

describe('replies: the seam between replay and live events', () => {
  for (const readFirst of [false, true]) {
    it(`holds live events while the log is read, and writes each once (${readFirst ? 'page taken before them' : 'page taken after them'})`, async () => {
      const gated = gatedLog(sharedBroker());
      const replies = createReplies({ broker: gated.broker, heartbeat: false });
      closers.push(replies);
      const { p, finish } = await resumeHeldAfterA(replies, replies, gated, readFirst);
      // Published while the replay is being read: they reach the reader live, and (unless the
      // page was taken first) the replay too.
      await p.push('c');
      await p.push('d');
      // Landed (a run publishes at the end of the turn) and heard live before the page comes.
      await new Promise((resolve) => setTimeout(resolve, 10));
      const events = await finish();
      expect(tokens(events)).toEqual(['b', 'c', 'd', 'e']);
      expect(events.at(-1)?.event).toBe('end');
    });
  }

  it('reads the log again when live events overflow the hold (bounded in bytes), losing none', async () => {
    const gated = gatedLog(sharedBroker());
    const replies = createReplies({
      broker: gated.broker,
      heartbeat: false,
      limits: { maxQueuedBytes: 300 },
    });
    closers.push(replies);
    const p = drivenProducer();
    const location = await startReply(replies, p.produce);
    await p.ready;
    const hold = gated.hold(true);
    const reading = getReply(replies, location);
    await hold.entered;
    const many = Array.from({ length: 40 }, (_, i) => `token-${i}`);
    for (const token of many) await p.push(token);
    hold.release();
    const stream = await reading;
    p.end();
    const events = await stream.rest();
    expect(tokens(events)).toEqual(many);
  });

  it("reads the log again when live events overflow the hold while the replay's last page is read, losing none", async () => {
    const inner = sharedBroker();
    let logReads = 0;
    let holdAt = -1;
    const entered = deferred();
    const release = deferred();
    // The replay's second page of the log is read at once, then held: what lands meanwhile is
    // not in it, and comes live only.
    const broker: Broker = {
      ...inner,
      async history(topics, afterId, options) {
        if (!(topics[0] as string).endsWith('/control') && ++logReads === holdAt) {
          const page = await inner.history(topics, afterId, options);
          entered.resolve();
          await release.promise;
          return page;
        }
        return inner.history(topics, afterId, options);
      },
    };
    const replies = createReplies({ broker, heartbeat: false, pageSize: 3, limits: { maxQueuedBytes: 300 } });
    closers.push(replies);
    const p = drivenProducer();
    const location = await startReply(replies, p.produce);
    await p.ready;
    for (const token of ['a', 'b', 'c']) await p.push(token);
    // Landed (a run publishes at the end of the turn).
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Read 1: the first page (open marker, a, b), beside the state; read 2: the last page (c).
    logReads = 0;
    holdAt = 2;
    const stream = await getReply(replies, location);
    // Read as it comes (the replay waits for the client to take what it wrote).
    const rest = stream.rest();
    await settles(entered.promise, 'the read of the last page', 2000);
    const many = Array.from({ length: 40 }, (_, i) => `token-${i}`);
    for (const token of many) await p.push(token);
    // Landed, and heard live while the page is held: more than the hold keeps.
    await new Promise((resolve) => setTimeout(resolve, 10));
    release.resolve();
    await new Promise((resolve) => setTimeout(resolve, 20));
    p.end();
    expect(tokens(await rest)).toEqual(['a', 'b', 'c', ...many]);
  });

  it('cuts its readers with the retry hint and the last id when the feed fails (events may have been missed)', async () => {
    const inner = sharedBroker();
    const a = createReplies({ broker: inner, heartbeat: false });
    closers.push(a);
    let feedListener: BrokerListener | undefined;
    const b = createReplies({
      broker: {
        ...inner,
        subscribe(listener: BrokerListener) {
          feedListener = listener;
          return inner.subscribe(listener);
        },
      },
      heartbeat: false,
      retry: 321,
      onError: () => {},
    });
    closers.push(b);
    const p = drivenProducer();
    const location = await startReply(a, p.produce);
    await p.ready;
    await p.push('a');
    const stream = await getReply(b, location);
    const [first] = await stream.take(1);
    feedListener?.onError(new Error('feed lost'));
    const events = await settles(stream.rest(), 'the reader of a failed feed', 2000);
    expect(tokens(events)).toEqual(['a']);
    expect(stream.retries).toEqual([321]);
    expect(stream.lastEventId).toBe(first?.id);
    // It resumes from the log: nothing lost.
    await p.push('b');
    p.end();
    const resumed = await getReply(b, location, stream.lastEventId);
    expect(tokens(await resumed.rest())).toEqual(['b']);
  });

  it('drops what a lagging feed brings after the replay already carried it', async () => {
    const inner = sharedBroker();
    // The live feed delivers every event 50 ms late (Redis reads it on another connection).
    const lagging: Broker = {
      ...inner,
      subscribe(listener: BrokerListener) {
        return inner.subscribe({
          onEvent: (event) => void setTimeout(() => listener.onEvent(event), 50),
          onError: (error) => listener.onError(error),
        });
      },
    };
    const gated = gatedLog(lagging);
    const replies = createReplies({ broker: gated.broker, heartbeat: false });
    closers.push(replies);
    const p = drivenProducer();
    const location = await startReply(replies, p.produce);
    await p.ready;
    const hold = gated.hold(false);
    const reading = getReply(replies, location);
    await hold.entered;
    // In history at once, on the feed 50 ms later: after the replay has written them.
    for (const token of ['a', 'b', 'c']) await p.push(token);
    hold.release();
    const stream = await reading;
    await stream.take(3);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await p.push('d');
    p.end();
    const events = await stream.rest();
    expect(tokens(events)).toEqual(['a', 'b', 'c', 'd']);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("asks for the log's first page beside the reply's state, not after it (one round trip to the broker)", async () => {
    const inner = sharedBroker();
    const state = deferred();
    let controlReads = 0;
    const logReadsDuringState: number[] = [];
    let logReads = 0;
    // The reply's state (its control topic) answers only when the test says so.
    let holdState = false;
    const broker: Broker = {
      ...inner,
      async history(topics, afterId, options) {
        if ((topics[0] as string).endsWith('/control')) {
          controlReads++;
          if (holdState) {
            logReadsDuringState.push(logReads);
            await state.promise;
          }
        } else logReads++;
        return inner.history(topics, afterId, options);
      },
    };
    const replies = createReplies({ broker, heartbeat: false });
    closers.push(replies);
    const { p, location, a } = await leftAfterA(replies);
    holdState = true;
    logReads = 0;
    const before = controlReads;
    const resumed = getReply(replies, location, a);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The state read is held: the first page was asked for already, alongside it.
    expect(controlReads).toBe(before + 1);
    expect(logReadsDuringState).toEqual([1]);
    state.resolve();
    const stream = await resumed;
    p.end();
    expect(tokens(await stream.rest())).toEqual(['b']);
    // Nothing read twice: the page read beside the state is the replay's.
    expect(logReads).toBe(1);
  });

  it('serves a resume whose first page, read beside the state, fails: the reader reads it again, and nothing is reported', async () => {
    const inner = sharedBroker();
    let failLogReads = 0;
    const broker: Broker = {
      ...inner,
      async history(topics, afterId, options) {
        if (failLogReads > 0 && !(topics[0] as string).endsWith('/control')) {
          failLogReads--;
          throw new Error('log read failed');
        }
        return inner.history(topics, afterId, options);
      },
    };
    const errors: unknown[] = [];
    const replies = createReplies({ broker, heartbeat: false, onError: (e) => errors.push(e) });
    closers.push(replies);
    const { p, location, a } = await leftAfterA(replies);
    failLogReads = 1;
    const resumed = await getReply(replies, location, a);
    expect(resumed.status).toBe(200);
    p.end();
    expect(tokens(await resumed.rest())).toEqual(['b']);
    expect(failLogReads).toBe(0);
    expect(errors).toEqual([]);
  });

  it('replays without the first page read beside the state when the feed failed meanwhile (it may have missed events)', async () => {
    const inner = sharedBroker();
    // The producer runs on instance A; B serves the resume and follows the log through its feed,
    // which the test can deafen (events published meanwhile never reach it) and fail.
    const a = createReplies({ broker: inner, heartbeat: false });
    closers.push(a);
    const feed = deafenable(inner);
    const gated = gatedLog(feed.broker);
    const b = createReplies({ broker: gated.broker, heartbeat: false, onError: () => {} });
    closers.push(b);
    const { p, finish } = await resumeHeldAfterA(a, b, gated, true);
    // The page is read; then the feed misses c and d, and says so.
    feed.deaf = true;
    await p.push('c');
    await p.push('d');
    feed.fail(new Error('feed lost'));
    feed.deaf = false;
    const events = await finish();
    expect(tokens(events)).toEqual(['b', 'c', 'd', 'e']);
  });

  it('replays a log longer than one history page, in order', async () => {
    const replies = createReplies({ heartbeat: false, pageSize: 7 });
    closers.push(replies);
    const many = Array.from({ length: 50 }, (_, i) => `x${i}`);
    const location = await startReply(replies, async ({ send }) => {
      for (const token of many) await send(token);
    });
    const stream = await getReply(replies, location);
    expect(tokens(await stream.rest())).toEqual(many);
    const fromMiddle = await getReply(replies, location, stream.events[20]?.id);
    expect(tokens(await fromMiddle.rest())).toEqual(many.slice(21));
  });
});

describe('replies: the first page read before the reader attaches (FirstPage)', () => {
  const event = (i: number): BrokerEvent => ({ id: `1-${i}`, topics: ['reply/x'], data: `token-${i}` });

  it('keeps the live events that come while it is read, up to its bound in bytes, then gives the page up', () => {
    const first = new FirstPage(100);
    first.page = { events: [], more: false, truncated: false, head: '1-0' };
    first.onLive(event(1));
    first.onLive(event(2));
    expect(first.live.map((e) => e.id)).toEqual(['1-1', '1-2']);
    expect(first.usable).toBe(first.page);
    for (let i = 3; i < 10; i++) first.onLive(event(i));
    // Past 100 bytes of wire text: nothing kept, and the page is not to be used.
    expect(first.live).toEqual([]);
    expect(first.usable).toBeUndefined();
  });

  it('is given up when its watch hears that the feed failed', () => {
    const feed = createFeed(
      sharedBroker(),
      () => {},
      () => false,
    );
    const watch = new ReplyWatch('x', topicsOf('ssekit:', 'x'), feed, Date.now);
    const first = new FirstPage(1 << 20);
    first.page = { events: [], more: false, truncated: false, head: '1-0' };
    watch.firstPages.add(first);
    watch.onEvent({ ...event(1), topics: [watch.topics.log] });
    expect(first.live.map((e) => e.id)).toEqual(['1-1']);
    watch.onFeedError();
    expect(first.usable).toBeUndefined();
    watch.following.release();
  });
});
