import { describe, expect, it, vi } from 'vitest';
import { isReplyStoppedError } from '../../src/replies/index.js';
import {
  deafenable,
  deferred,
  failingHistory,
  get,
  instancesPerTest,
  killable,
  post,
  request,
  settles,
  sharedBroker,
  tokens,
  waitingProducer,
} from './helpers.js';

const instance = instancesPerTest();

const del = (base: string, location: string) => request(new URL(location, base).href, { method: 'DELETE' });
const STOPPED = JSON.stringify({ reason: 'stopped' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('replies: stop', () => {
  it("DELETE aborts the producer's signal, waits for its finally, and ends every open stream with end {stopped}", async () => {
    const p = waitingProducer(2);
    // No fallback within the test's time: the producer's instance must answer the stop itself.
    const app = await instance({ produce: p.produce, stopTimeout: 60_000 });
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    await started.take(2);
    const other = await get(app.url, location);
    await other.take(2);
    const answer = await del(app.url, location);
    expect(answer.status).toBe(204);
    // By the time DELETE answers, the producer has settled.
    expect(p.state.finallyRan).toBe(1);
    expect(p.state.signal?.aborted).toBe(true);
    expect(isReplyStoppedError(p.state.reason)).toBe(true);
    expect(p.state.reason).toMatchObject({ reason: 'stopped' });
    for (const stream of [started, other]) {
      const events = await stream.rest();
      expect(tokens(events)).toEqual(['t1', 't2']);
      expect(events.at(-1)).toMatchObject({ event: 'end', data: STOPPED });
    }
    expect(app.replies.metrics()).toMatchObject({ running: 0, readers: 0, ended: { stopped: 1 } });
    // Stopping again is harmless; the log stays readable until its retention ends.
    expect((await del(app.url, location)).status).toBe(204);
    expect((await (await get(app.url, location)).rest()).at(-1)?.data).toBe(STOPPED);
  });

  it('ends the reply after stopGrace when the producer ignores its signal', async () => {
    let signal: AbortSignal | undefined;
    const app = await instance({
      stopGrace: 50,
      stopTimeout: 60_000,
      produce: async (reply) => {
        signal = reply.signal;
        await reply.send('a');
        await new Promise(() => {}); // never settles, never looks at its signal
      },
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expect((await del(app.url, location)).status).toBe(204);
    expect(signal?.aborted).toBe(true);
    const events = await stream.rest();
    expect(events.map((e) => e.data)).toEqual(['a', STOPPED]);
    // A late send of the ignoring producer is refused, not appended after the end.
    expect(app.replies.metrics().running).toBe(0);
  });

  it("writes the end only once the producer's finally has finished, an async cleanup included (within stopGrace)", async () => {
    let cleaned = false;
    const app = await instance({
      stopTimeout: 60_000,
      produce: async ({ send, signal }) => {
        try {
          await send('a');
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        } finally {
          // Closing the upstream call, say: well within the default stopGrace of 100 ms.
          await sleep(30);
          cleaned = true;
        }
      },
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expect((await del(app.url, location)).status).toBe(204);
    expect(cleaned).toBe(true);
    expect((await stream.rest()).map((e) => e.data)).toEqual(['a', STOPPED]);
  });

  it('refuses the sends of a producer that goes on after the end: send resolves false', async () => {
    const gate = deferred();
    const late = deferred<boolean>();
    const app = await instance({
      stopGrace: 20,
      stopTimeout: 60_000,
      produce: async ({ send }) => {
        await send('a');
        await gate.promise; // ignores its signal
        late.resolve(await send('late'));
      },
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expect((await del(app.url, location)).status).toBe(204);
    expect((await stream.rest()).map((e) => e.data)).toEqual(['a', STOPPED]);
    gate.resolve();
    expect(await settles(late.promise, 'the late send', 2000)).toBe(false);
    expect((await (await get(app.url, location)).rest()).map((e) => e.data)).toEqual(['a', STOPPED]);
  });

  it('stops pulling an async generator at a stop, even one that ignores its signal: its finally runs', async () => {
    const finished = deferred();
    let pulled = 0;
    const app = await instance({
      stopGrace: 20,
      stopTimeout: 60_000,
      produce: async function* () {
        try {
          for (;;) {
            pulled++;
            yield `t${pulled}`;
            await sleep(5);
          }
        } finally {
          finished.resolve();
        }
      },
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expect((await del(app.url, location)).status).toBe(204);
    await settles(finished.promise, "the generator's finally", 2000);
    const at = pulled;
    await sleep(50);
    expect(pulled).toBe(at);
    expect((await stream.rest()).at(-1)?.data).toBe(STOPPED);
  });

  it('stops a reply running on another instance (through the broker), and ends the readers of both', async () => {
    const broker = sharedBroker();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker, stopTimeout: 60_000 });
    const onA = await post(a.url);
    const location = onA.headers.get('content-location') as string;
    await onA.take(1);
    const onB = await get(b.url, location);
    await onB.take(1);
    expect((await del(b.url, location)).status).toBe(204);
    expect(p.state).toMatchObject({ finallyRan: 1 });
    expect(p.state.signal?.aborted).toBe(true);
    for (const stream of [onA, onB]) expect((await stream.rest()).at(-1)?.data).toBe(STOPPED);
    expect(a.replies.metrics().running).toBe(0);
  });

  it('ends the reply itself when the instance running the producer does not answer the stop', async () => {
    const shared = sharedBroker();
    const dead = killable(shared);
    const p = waitingProducer(1);
    const a = await instance({
      broker: dead.broker,
      produce: p.produce,
      onError: () => {},
      producerLostAfter: 60_000,
    });
    const b = await instance({ broker: shared, stopTimeout: 100, producerLostAfter: 60_000 });
    const onA = await post(a.url);
    const location = onA.headers.get('content-location') as string;
    await onA.take(1);
    const onB = await get(b.url, location);
    await onB.take(1);
    dead.kill();
    expect((await del(b.url, location)).status).toBe(204);
    expect((await onB.rest()).at(-1)?.data).toBe(STOPPED);
    expect(p.state.finallyRan).toBe(0); // nobody could reach it
  });

  it("reads a control topic longer than one history page: the end's id gets 204, and stop() knows the reply ended", async () => {
    const p = waitingProducer(1);
    // Control topic: the open marker, the stop request, the end: two pages of two.
    const app = await instance({ produce: p.produce, pageSize: 2, stopTimeout: 60_000 });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expect((await del(app.url, location)).status).toBe(204);
    const end = (await stream.rest()).at(-1);
    expect(end?.data).toBe(STOPPED);
    const after = await settles(get(app.url, location, end?.id), 'a GET after the end');
    expect(after.status).toBe(204);
    expect(await app.replies.stop(location.split('/').pop() as string)).toBe(false);
  });

  it('answers 404 to DELETE of an unknown reply; stop() from server code says whether it stopped one', async () => {
    const p = waitingProducer(1);
    const app = await instance({ produce: p.produce });
    expect((await del(app.url, '/replies/AAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
    const stream = await post(app.url);
    const id = (stream.headers.get('content-location') as string).split('/').at(-1) as string;
    await stream.take(1);
    expect(await app.replies.stop('nonsense')).toBe(false);
    expect(await app.replies.stop(id)).toBe(true);
    expect(await app.replies.stop(id)).toBe(false); // already ended
    expect((await stream.rest()).at(-1)?.data).toBe(STOPPED);
  });

  it('stops a reply nobody reads for idleStopAfter (reason idle), counting readers on other instances', async () => {
    const broker = sharedBroker();
    const read = waitingProducer(1);
    const unread = waitingProducer(1);
    const a = await instance({ broker, limits: { idleStopAfter: 150 } });
    const b = await instance({ broker, limits: { idleStopAfter: 150 } });
    a.setProducer(read.produce);
    const first = await post(a.url);
    const readLocation = first.headers.get('content-location') as string;
    await first.take(1);
    // Read on the other instance only: its notices keep the reply alive.
    const onB = await get(b.url, readLocation);
    await onB.take(1);
    first.disconnect();
    a.setProducer(unread.produce);
    const second = await post(a.url);
    const unreadLocation = second.headers.get('content-location') as string;
    await second.take(1);
    second.disconnect();
    await vi.waitFor(() => expect(unread.state.finallyRan).toBe(1), { timeout: 5000 });
    expect(unread.state.reason).toMatchObject({ reason: 'idle' });
    expect((await (await get(a.url, unreadLocation)).rest()).at(-1)?.data).toBe('{"reason":"idle"}');
    // Several idle periods later, the reply read elsewhere still runs.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(read.state.finallyRan).toBe(0);
    read.release();
    expect(tokens(await onB.rest())).toEqual(['t1', 'last']);
  });

  it("does not stop as idle a reply read on its own instance (the POST's stream still open)", async () => {
    const p = waitingProducer(1);
    const app = await instance({ produce: p.produce, limits: { idleStopAfter: 100 } });
    const stream = await post(app.url);
    await stream.take(1);
    // Four idle periods, read all along.
    await sleep(400);
    expect(p.state.finallyRan).toBe(0);
    p.release();
    const events = await stream.rest();
    expect(tokens(events)).toEqual(['t1', 'last']);
    expect(events.at(-1)?.data).toBe('{"reason":"done"}');
  });

  it('answers 503 to DELETE and tells onError when the broker cannot be read; the reply goes on, and a later DELETE stops it', async () => {
    const store = failingHistory();
    const errors: unknown[] = [];
    const p = waitingProducer(1);
    const app = await instance({ broker: store.broker, produce: p.produce, onError: (e) => errors.push(e) });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    store.failing = true;
    const refused = await del(app.url, location);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await refused.rest();
    expect(refused.text).toContain('the event store is unavailable');
    expect(errors).toEqual([store.failure]);
    expect(p.state.signal?.aborted).toBe(false);
    store.failing = false;
    expect((await del(app.url, location)).status).toBe(204);
    expect((await stream.rest()).at(-1)?.data).toBe(STOPPED);
  });

  it('stops a reply whose stop request its instance missed (its feed failed meanwhile): the control topic is read again', async () => {
    const inner = sharedBroker();
    // The producer's instance: the test can deafen its feed and fail it.
    const feed = deafenable(inner);
    const a = await instance({ broker: feed.broker, onError: () => {} });
    // Another instance stops it, and waits for its end with no fallback in the test's time.
    const b = await instance({ broker: inner, stopTimeout: 60_000 });
    const p = waitingProducer(1);
    a.setProducer(p.produce);
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    feed.deaf = true;
    const stopping = del(b.url, location);
    // The stop request is on the control topic (b published it), unheard by a.
    await vi.waitFor(async () => {
      const page = await inner.history([`reply/${location.split('/').pop()}/control`], '0-0');
      expect(page.events.map((e) => e.event)).toContain('ssekit-stop');
    });
    expect(p.state.finallyRan).toBe(0);
    feed.deaf = false;
    feed.fail(new Error('feed lost'));
    expect((await settles(stopping, 'the DELETE', 2000)).status).toBe(204);
    expect(p.state.finallyRan).toBe(1);
    expect(p.state.reason).toMatchObject({ name: 'ReplyStoppedError', reason: 'stopped' });
    expect((await (await get(b.url, location)).rest()).at(-1)?.data).toBe(STOPPED);
  });
});
