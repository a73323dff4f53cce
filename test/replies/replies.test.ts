import { describe, expect, it, vi } from 'vitest';
import { type Broker, createMemoryBroker } from '../../src/hub/index.js';
import { createReplies, isReplyInputError, type Produce } from '../../src/replies/index.js';
import {
  deferred,
  failingHistory,
  get,
  instancesPerTest,
  post,
  request,
  Stream,
  settles,
  steppedProducer,
  tokens,
  waitingProducer,
} from './helpers.js';

const instance = instancesPerTest();

describe('replies: start and read', () => {
  it("puts the headers option on its responses, each Set-Cookie apart, with the reply's own Content-Location on a POST", async () => {
    const p = steppedProducer(1);
    p.finish();
    const app = await instance({
      produce: p.produce,
      headers: [
        ['access-control-expose-headers', 'Content-Location'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['content-location', '/elsewhere'],
      ],
    });
    const stream = await post(app.url);
    expect(stream.headers.get('access-control-expose-headers')).toBe('Content-Location');
    expect(stream.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const location = stream.headers.get('content-location') as string;
    expect(location).toMatch(/^\/replies\/[A-Za-z0-9_-]{22}$/);
    await stream.rest();
    const again = await get(app.url, location);
    expect(again.headers.get('access-control-expose-headers')).toBe('Content-Location');
    expect(again.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    await again.rest();
  });

  it('answers a POST with the reply streamed from its start, Content-Location, an id on every event, then end', async () => {
    const p = steppedProducer(3);
    p.finish();
    const app = await instance({ produce: p.produce, basePath: '/api/replies/' });
    const stream = await post(app.url);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const location = stream.headers.get('content-location') as string;
    expect(location).toMatch(/^\/api\/replies\/[A-Za-z0-9_-]{22}$/);
    const events = await stream.rest();
    expect(tokens(events)).toEqual(['t1', 't2', 't3']);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ reason: 'done' }) });
    const ids = events.map((e) => e.id);
    expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // The reply's URL replays it all, from anywhere.
    const again = await get(app.url, location);
    expect((await again.rest()).map((e) => [e.id, e.event, e.data])).toEqual(
      events.map((e) => [e.id, e.event, e.data]),
    );
  });

  it('gives every reply a different unguessable id (128 bits)', async () => {
    const app = await instance({ produce: async () => {} });
    const locations = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const stream = await post(app.url);
      locations.add(stream.headers.get('content-location') as string);
      await stream.rest();
    }
    expect(locations.size).toBe(20);
  });

  it('runs the producer once however many reconnects and resumes', async () => {
    const p = steppedProducer(10);
    const app = await instance({ produce: p.produce });
    const first = await post(app.url);
    const location = first.headers.get('content-location') as string;
    await first.take(1);
    first.disconnect();
    let last = first.events.at(-1)?.id as string;
    for (let i = 1; i <= 10; i++) {
      p.step(i);
      const again = await get(app.url, location, i % 3 === 0 ? undefined : last);
      await again.take(1);
      last = again.events.at(-1)?.id ?? last;
      again.disconnect();
    }
    const whole = await get(app.url, location);
    expect(tokens(await whole.rest())).toEqual(Array.from({ length: 10 }, (_, i) => `t${i + 1}`));
    expect(p.state.runs).toBe(1);
    expect(app.replies.metrics().started).toBe(1);
  });

  it('keeps producing when the client that started the reply goes away', async () => {
    const p = steppedProducer(5);
    const app = await instance({ produce: p.produce });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    stream.disconnect();
    // Wait until the server has noticed: no response of the reply is open any more.
    await vi.waitFor(() => expect(app.replies.metrics().readers).toBe(0));
    p.finish();
    await vi.waitFor(() => expect(app.replies.metrics().running).toBe(0));
    expect(p.state).toMatchObject({ runs: 1, finallyRan: 1, aborted: false });
    expect(p.sent).toEqual(['t1', 't2', 't3', 't4', 't5']);
    const whole = await get(app.url, location);
    const events = await whole.rest();
    expect(tokens(events)).toEqual(p.sent);
    expect(events.at(-1)?.data).toBe('{"reason":"done"}');
  });

  it('answers 204 to a GET with the id of the last event, and streams the end to one with the id before it', async () => {
    const app = await instance({ produce: async ({ send }) => void (await send('only')) });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    const events = await stream.rest();
    const [token, end] = events;
    const after = await get(app.url, location, end?.id);
    expect(after.status).toBe(204);
    const almost = await get(app.url, location, token?.id);
    expect(almost.status).toBe(200);
    expect((await almost.rest()).map((e) => e.event)).toEqual(['end']);
  });

  it('answers 404 for an unknown reply, a malformed id, and a finished one after its retention', async () => {
    const app = await instance({
      produce: async ({ send }) => void (await send('x')),
      limits: { retention: 150 },
    });
    expect((await get(app.url, '/replies/AAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
    expect((await get(app.url, '/replies/not-an-id')).status).toBe(404);
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.rest();
    expect((await get(app.url, location)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await get(app.url, location)).status).toBe(404);
    expect((await request(new URL(location, app.url).href, { method: 'DELETE' })).status).toBe(404);
  });

  it('ends the reply with end {reason: failed} when the producer throws, and tells onError, not the client', async () => {
    const errors: unknown[] = [];
    const app = await instance({
      onError: (e) => errors.push(e),
      produce: async ({ send }) => {
        await send('before');
        throw new Error('secret stack detail');
      },
    });
    const stream = await post(app.url);
    const events = await stream.rest();
    expect(tokens(events)).toEqual(['before']);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"failed"}' });
    expect(stream.text).not.toContain('secret');
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('secret stack detail');
  });

  it('reports to console.error, prefixed, when no onError is given', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const failure = new Error('the model failed');
      const app = await instance({
        produce: async () => {
          throw failure;
        },
      });
      const events = await (await post(app.url)).rest();
      expect(events.at(-1)?.data).toBe('{"reason":"failed"}');
      expect(logged).toHaveBeenCalledWith('ssekit replies:', failure);
    } finally {
      logged.mockRestore();
    }
  });

  it('hands the producer a context with its signal on the prototype (an object with a getter of its own is a slow dictionary in V8), whose parts work taken off it', async () => {
    let context: Parameters<Produce>[0] | undefined;
    const app = await instance({
      produce: async (given) => {
        context = given;
        const { id, url, send, signal } = given;
        expect(signal.aborted).toBe(false);
        await send(id);
        await send(url);
      },
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    const events = await stream.rest();
    expect(tokens(events)).toEqual([location.split('/').pop(), location]);
    expect(Object.getOwnPropertyDescriptor(context, 'signal')).toBeUndefined();
    expect(typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(context), 'signal')?.get).toBe(
      'function',
    );
  });

  it('takes an async generator as the producer; its items are the events', async () => {
    const app = await instance({
      produce: async function* () {
        yield 'a';
        yield { event: 'delta', data: 'b\nc' };
      } as Produce,
    });
    const events = await (await post(app.url)).rest();
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['message', 'a'],
      ['delta', 'b\nc'],
      ['end', '{"reason":"done"}'],
    ]);
  });

  it("refuses an 'end' event from the producer (it would end every reader early): the reply fails", async () => {
    let thrown: unknown;
    const app = await instance({
      onError: () => {},
      produce: async ({ send }) => {
        try {
          await send({ event: 'end', data: 'forged' });
        } catch (error) {
          thrown = error;
          throw error;
        }
      },
    });
    const events = await (await post(app.url)).rest();
    expect(isReplyInputError(thrown)).toBe(true);
    expect(events.map((e) => e.data)).toEqual(['{"reason":"failed"}']);
  });

  it('refuses an event that would corrupt the wire (a CR or LF in its type, data not a string, not an event at all) with a typed error, and the reply goes on', async () => {
    const refused: unknown[] = [];
    const app = await instance({
      produce: async ({ send }) => {
        await send('before');
        const bad: unknown[] = [
          { event: 'x\ndata: forged', data: 'y' },
          { event: 'x\r', data: 'y' },
          { data: 5 },
          42,
          null,
        ];
        for (const item of bad) {
          try {
            await send(item as string);
          } catch (error) {
            refused.push(error);
          }
        }
        await send('after');
      },
    });
    const events = await (await post(app.url)).rest();
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['message', 'before'],
      ['message', 'after'],
      ['end', '{"reason":"done"}'],
    ]);
    expect(refused).toHaveLength(5);
    for (const error of refused) {
      expect(isReplyInputError(error)).toBe(true);
      expect(error).toMatchObject({ type: 'invalid-event' });
    }
    // The field's own complaint is kept, with the protocol error as its cause.
    expect(refused[0]).toMatchObject({
      message: 'event must not contain CR or LF',
      cause: { name: 'EncodeError' },
    });
    // Something that is not an event at all is told what send takes.
    expect(refused[3]).toMatchObject({ message: 'send expects a string or { event?, data }' });
  });

  it('answers 400 to a malformed Last-Event-ID or one from the future, 405 to other methods', async () => {
    const app = await instance({ produce: async ({ send }) => void (await send('x')) });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.rest();
    expect((await get(app.url, location, 'nonsense')).status).toBe(400);
    expect((await get(app.url, location, `${Date.now() + 3_600_000}-0`)).status).toBe(400);
    const put = await request(new URL(location, app.url).href, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, DELETE');
  });

  it('asks authorize for start, read and stop: 401 and 403 as the hub answers', async () => {
    const calls: string[] = [];
    const app = await instance({
      produce: async ({ send }) => void (await send('x')),
      authorize: ({ request, action, id }) => {
        calls.push(`${action}:${id === undefined ? '-' : 'id'}`);
        const who = request.headers.get('x-user');
        if (who === null) return 'unauthenticated';
        return who === 'owner' || action === 'start';
      },
    });
    expect((await post(app.url)).status).toBe(401);
    const stream = await post(app.url, { 'x-user': 'owner' });
    const location = stream.headers.get('content-location') as string;
    await stream.rest();
    const stranger = await request(new URL(location, app.url).href, { headers: { 'x-user': 'stranger' } });
    expect(stranger.status).toBe(403);
    const del = await request(new URL(location, app.url).href, {
      method: 'DELETE',
      headers: { 'x-user': 'x' },
    });
    expect(del.status).toBe(403);
    expect((await request(new URL(location, app.url).href, { headers: { 'x-user': 'owner' } })).status).toBe(
      200,
    );
    expect(calls).toEqual(['start:-', 'start:-', 'read:id', 'stop:id', 'read:id']);
  });

  it('ends a stream when its authorization expires (retry hint), and answers 401 to credentials already expired', async () => {
    let expiresAt = 0;
    const app = await instance({
      retry: 4321,
      produce: async ({ send, signal }) => {
        await send('a');
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      },
      authorize: ({ action }) => (action === 'start' ? true : { expiresAt }),
    });
    const stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    await stream.take(1);
    expiresAt = Date.now() - 1;
    expect((await get(app.url, location)).status).toBe(401);
    expiresAt = Date.now() + 100;
    const reader = await get(app.url, location);
    const events = await reader.rest();
    expect(events.map((e) => e.data)).toEqual(['a']);
    expect(reader.retries).toEqual([4321]);
  });

  it('answers 401 to a POST whose credentials have expired already, and starts nothing', async () => {
    const p = waitingProducer(1);
    const app = await instance({
      produce: p.produce,
      authorize: () => ({ expiresAt: Date.now() - 1 }),
    });
    const refused = await post(app.url);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, rejected: { 401: 1 } });
  });

  it('answers 503 to a POST still being authorized when close() begins, and never runs its producer', async () => {
    const p = waitingProducer(1);
    const asked = deferred();
    const verdict = deferred<boolean>();
    const app = await instance({
      produce: p.produce,
      authorize: () => {
        asked.resolve();
        return verdict.promise;
      },
    });
    const starting = post(app.url);
    await asked.promise;
    const closed = app.replies.close({ timeout: 0 });
    verdict.resolve(true);
    const refused = await starting;
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await refused.rest();
    expect(refused.text).toContain('shutting down');
    await closed;
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics().started).toBe(0);
  });

  it('answers 503 and tells onError when the broker will not open the reply, and follows nothing for it afterwards', async () => {
    const inner = createMemoryBroker();
    const followed = new Map<string, number>();
    const errors: unknown[] = [];
    const refusal = new Error('broker refuses writes');
    const broker: Broker = {
      ...inner,
      publish: () => Promise.reject(refusal),
      subscribe(listener) {
        const feed = inner.subscribe(listener);
        return {
          ...feed,
          follow(topics) {
            for (const t of topics) followed.set(t, (followed.get(t) ?? 0) + 1);
            return feed.follow(topics);
          },
          unfollow(topics) {
            for (const t of topics) followed.set(t, (followed.get(t) ?? 0) - 1);
            return feed.unfollow(topics);
          },
        };
      },
    };
    const p = waitingProducer(1);
    const app = await instance({ broker, produce: p.produce, onError: (e) => errors.push(e) });
    const refused = await post(app.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await refused.rest();
    expect(refused.text).toContain('the event store is unavailable');
    expect(errors).toEqual([refusal]);
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, running: 0 });
    // The control topic it followed to open the reply is let go (on Redis, a subscription).
    expect(followed.size).toBe(1);
    await vi.waitFor(() => expect([...followed.values()]).toEqual([0]));
  });

  it("sends endEvents in place of the end, typed events kept as such, the last with the end's id; none at all: the id alone, and a resume with it gets 204", async () => {
    const app = await instance({
      produce: async ({ send }) => void (await send('x')),
      endEvents: (reason) =>
        reason === 'done'
          ? [
              { event: 'finish', data: reason },
              { event: 'bye', data: '' },
            ]
          : [],
    });
    const done = await post(app.url);
    const events = await done.rest();
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['message', 'x'],
      ['finish', 'done'],
      ['bye', ''],
    ]);
    // Only the last carries an id (the end's): the one before keeps the last event id as it was.
    expect(events[1]?.id).toBe(events[0]?.id);
    expect(events[2]?.id).not.toBe(events[0]?.id);
    expect((await get(app.url, done.headers.get('content-location') as string, events[2]?.id)).status).toBe(
      204,
    );

    const errors: unknown[] = [];
    const failing = await instance({
      onError: (e) => errors.push(e),
      produce: async ({ send }) => {
        await send('y');
        throw new Error('the model failed');
      },
      endEvents: () => [],
    });
    const failed = await post(failing.url);
    const rest = await failed.rest();
    // Nothing in place of the end: its id alone, which a client keeps as its last event id.
    expect(rest.map((e) => e.data)).toEqual(['y']);
    expect(failed.lastEventId).not.toBe(rest[0]?.id);
    expect(failed.lastEventId).toMatch(/^\d+-\d+$/);
    const location = failed.headers.get('content-location') as string;
    expect((await get(failing.url, location, failed.lastEventId)).status).toBe(204);
    expect((await get(failing.url, location, rest[0]?.id)).status).toBe(200);
    expect(errors).toHaveLength(1);
  });

  it('keeps a stream open whose credentials expire further off than a timer reaches (2^31 ms, some 25 days)', async () => {
    const p = waitingProducer(1);
    const app = await instance({
      produce: p.produce,
      authorize: () => ({ expiresAt: Date.now() + 30 * 24 * 3_600_000 }),
    });
    const stream = await post(app.url);
    expect(stream.status).toBe(200);
    await stream.take(1);
    // A timer set so far off would fire at once, and cut the stream with a retry hint.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stream.retries).toEqual([]);
    p.release();
    const events = await stream.rest();
    expect(tokens(events)).toEqual(['t1', 'last']);
    expect(events.at(-1)?.data).toBe('{"reason":"done"}');
  });

  it('hands waitUntil a promise that settles once the reply has ended, not before', async () => {
    const replies = createReplies({ heartbeat: false });
    try {
      const p = waitingProducer(1);
      let handed: Promise<unknown> | undefined;
      const response = await replies.start(new Request('http://x/chat', { method: 'POST' }), p.produce, {
        waitUntil: (promise) => {
          handed = promise;
        },
      });
      expect(handed).toBeInstanceOf(Promise);
      let settled = false;
      void handed?.then(() => {
        settled = true;
      });
      const stream = new Stream(response, new AbortController());
      await stream.take(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled).toBe(false);
      p.release();
      await settles(handed as Promise<unknown>, 'the promise handed to waitUntil', 2000);
      // By then the end is written and the producer has settled.
      expect(p.state.finallyRan).toBe(1);
      expect(replies.metrics().running).toBe(0);
      expect((await stream.rest()).at(-1)?.data).toBe('{"reason":"done"}');
    } finally {
      await replies.close({ timeout: 0 });
    }
  });

  it('lets go of a response whose client left before the reply was looked up', async () => {
    const replies = createReplies({ heartbeat: false });
    try {
      const started = await replies.start(
        new Request('http://x/chat', { method: 'POST' }),
        async ({ send }) => {
          await send('a');
        },
      );
      const location = started.headers.get('content-location') as string;
      await started.body?.cancel();
      const gone = new AbortController();
      gone.abort();
      const response = await replies.handler(new Request(`http://x${location}`, { signal: gone.signal }));
      await response.body?.cancel().catch(() => {});
      expect(replies.metrics().readers).toBe(0);
    } finally {
      await replies.close({ timeout: 0 });
    }
  });

  it('throws a TypeError when start is given no produce function', async () => {
    const replies = createReplies({ heartbeat: false });
    try {
      await expect(
        replies.start(new Request('http://x/chat', { method: 'POST' }), undefined as unknown as Produce),
      ).rejects.toThrow(new TypeError('start needs a produce function'));
      expect(replies.metrics()).toMatchObject({ started: 0, running: 0 });
    } finally {
      await replies.close({ timeout: 0 });
    }
  });

  it('refuses a broker whose ids are not stream ids, and bad options', () => {
    const broker = { ...createMemoryBroker(), isValidId: (id: string) => /^\d+$/.test(id) };
    expect(() => createReplies({ broker })).toThrow(TypeError);
    expect(() => createReplies({ basePath: 'replies' })).toThrow(TypeError);
    expect(() => createReplies({ topicPrefix: '' })).toThrow(
      new TypeError('topicPrefix must be a non-empty string'),
    );
    expect(() => createReplies({ limits: { maxRunning: 0 } })).toThrow(RangeError);
  });
});

describe("replies: a chat's stream URL (chatHandler)", () => {
  const chatPost = () => new Request('http://x/chat', { method: 'POST' });
  const chatUrl = (chatId: string) => `http://x/chat/${chatId}/stream`;

  it('serves the latest reply of a chat whose starts take more than one history page', async () => {
    const replies = createReplies({ heartbeat: false, pageSize: 2, stopTimeout: 60_000 });
    try {
      const producers = [waitingProducer(1), waitingProducer(1), waitingProducer(1)];
      const locations: string[] = [];
      for (const p of producers) {
        const response = await replies.start(chatPost(), p.produce, { chatId: 'c1' });
        locations.push(response.headers.get('content-location') as string);
        await response.body?.cancel();
      }
      // Each start stopped the one before (in the background); the third runs.
      await vi.waitFor(() => expect(producers.map((p) => p.state.finallyRan)).toEqual([1, 1, 0]));
      const response = await settles(replies.chatHandler(new Request(chatUrl('c1')), 'c1'), 'the GET');
      expect(response.status).toBe(200);
      const stream = new Stream(response, new AbortController());
      await stream.take(1);
      producers[2]?.release();
      const events = await stream.rest();
      expect(tokens(events)).toEqual(['t1', 'last']);
      // The same events as the third reply's own URL has.
      const own = await replies.handler(new Request(`http://x${locations[2]}`));
      expect((await new Stream(own, new AbortController()).rest()).map((e) => e.id)).toEqual(
        events.map((e) => e.id),
      );
    } finally {
      await replies.close({ timeout: 0 });
    }
  });

  it('answers 503 (shutting down) once close() has begun', async () => {
    const replies = createReplies({ heartbeat: false });
    const p = waitingProducer(1);
    const started = await replies.start(chatPost(), p.produce, { chatId: 'c2' });
    await started.body?.cancel();
    await replies.close({ timeout: 0 });
    for (const method of ['GET', 'DELETE']) {
      const response = await replies.chatHandler(new Request(chatUrl('c2'), { method }), 'c2');
      expect(response.status, method).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.text()).toContain('shutting down');
    }
  });

  it('answers 503 and tells onError when the broker cannot be read', async () => {
    const store = failingHistory();
    const errors: unknown[] = [];
    const replies = createReplies({ heartbeat: false, broker: store.broker, onError: (e) => errors.push(e) });
    try {
      const p = waitingProducer(1);
      const started = await replies.start(chatPost(), p.produce, { chatId: 'c3' });
      await started.body?.cancel();
      store.failing = true;
      for (const method of ['GET', 'DELETE']) {
        const response = await replies.chatHandler(new Request(chatUrl('c3'), { method }), 'c3');
        expect(response.status, method).toBe(503);
        expect(response.headers.get('retry-after')).toBe('5');
        expect(await response.text()).toContain('the event store is unavailable');
      }
      expect(errors).toEqual([store.failure, store.failure]);
      // Nothing was stopped.
      expect(p.state.signal?.aborted).toBe(false);
      store.failing = false;
      expect((await replies.chatHandler(new Request(chatUrl('c3'), { method: 'DELETE' }), 'c3')).status).toBe(
        204,
      );
      expect(p.state.finallyRan).toBe(1);
    } finally {
      await replies.close({ timeout: 0 });
    }
  });
});
