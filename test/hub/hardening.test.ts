/**
 * Issue 12's hub items: progress on every resume path, ids from the future, the held-overflow
 * branch of the seam, streams that end with their token, and HTTP hygiene (content types,
 * cross-origin cookies, hosts, HEAD, nosniff, bounded echoes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRequestListener, type NodeRequestContext } from '../../src/adapters/node/index.js';
import {
  createHub,
  createMemoryBroker,
  type Hub,
  HubInputError,
  jwtAuthorizer,
  RESET_EVENT,
  RESUME_HEADER,
} from '../../src/hub/index.js';
import { createParser, type ServerSentEvent } from '../../src/index.js';
import { listen } from '../helpers/server.js';
import { gatedBroker, nextMacrotask, readAll, readEvents, readUntil } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
function hubWith(options: Parameters<typeof createHub>[0] = {}): Hub {
  const hub = createHub({ heartbeat: false, ...options });
  cleanups.push(() => hub.close({ timeout: 100 }));
  return hub;
}
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serveHub(hub: Hub): Promise<string> {
  const server = await listen(
    createRequestListener((request: Request, context: NodeRequestContext) => hub.handler(request, context), {
      requestSignal: false,
    }),
  );
  cleanups.push(() => server.close());
  return server.url;
}

/**
 * One HTTP connection: reads events until the stream ends or `enough` says stop (then aborts).
 */
async function fetchEvents(
  url: string,
  headers: Record<string, string>,
  enough: (events: ServerSentEvent[]) => boolean,
): Promise<{
  status: number;
  resume: string | null;
  events: ServerSentEvent[];
  retries: number[];
  ended: boolean;
}> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const events: ServerSentEvent[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let ended = false;
  while (!enough(events)) {
    const next = await reader.read();
    if (next.done) {
      ended = true;
      break;
    }
    parser.feed(next.value);
  }
  if (!ended) abort.abort();
  return { status: response.status, resume: response.headers.get(RESUME_HEADER), events, retries, ended };
}

describe('a subscriber far behind makes progress (issue 12.1)', () => {
  it('over HTTP: 30 events of 60 kB from the first id reach the head within a few reconnects', async () => {
    const hub = hubWith({ reconnectHint: { delay: 0, spread: 0 } });
    const url = await serveHub(hub);
    const data = 'x'.repeat(60_000);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await hub.publish('t', data));
    const seen: string[] = [];
    let from = ids[0] as string;
    let rounds = 0;
    while (seen.length < 29 && rounds < 5) {
      rounds++;
      const got = await fetchEvents(
        `${url}/?topic=t`,
        { 'last-event-id': from },
        (e) => seen.length + e.length >= 29,
      );
      expect(got.status).toBe(200);
      expect(got.resume).toBe('replay');
      // Each connection carries events; one that ends early ends with a retry hint.
      expect(got.events.length).toBeGreaterThan(0);
      if (got.ended) expect(got.retries).toEqual([0]);
      seen.push(...got.events.map((e) => e.id));
      from = seen[seen.length - 1] as string;
    }
    expect(seen).toEqual(ids.slice(1));
    expect(rounds).toBeGreaterThan(1); // 1.7 MB does not fit in the default 1 MiB at once
    expect(rounds).toBeLessThanOrEqual(3);
  });

  it('an event larger than maxQueuedBytes still goes out, one per connection', async () => {
    const hub = hubWith({ limits: { maxQueuedBytes: 1000 }, reconnectHint: { delay: 0, spread: 0 } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await hub.publish('t', 'y'.repeat(5000)));
    const seen: string[] = [];
    let from = ids[0] as string;
    for (let round = 0; round < 2; round++) {
      const { events, retries } = await readAll(await hub.subscribe({ topics: ['t'], lastEventId: from }));
      expect(events).toHaveLength(1);
      expect(retries).toEqual([0]);
      seen.push((events[0] as ServerSentEvent).id);
      from = seen[seen.length - 1] as string;
    }
    // The last one fits: the stream goes on live.
    const last = await readEvents(await hub.subscribe({ topics: ['t'], lastEventId: from }), 1);
    seen.push(...last.events.map((e) => e.id));
    expect(seen).toEqual(ids.slice(1));
  });
});

describe('an id from the future (issue 12.2)', () => {
  it('is answered with a reset to the head, then live events', async () => {
    const hub = hubWith();
    const head = await hub.publish('t', 'old');
    const future = `${Date.now() + 3_600_000}-0`;
    const res = await hub.subscribe({ topics: ['t'], lastEventId: future });
    expect(res.headers.get(RESUME_HEADER)).toBe('reset');
    const live = await hub.publish('t', 'live');
    const { events } = await readEvents(res, 2);
    expect(events[0]?.event).toBe(RESET_EVENT);
    expect(events[0]?.id).toBe(head);
    expect(JSON.parse(events[0]?.data as string)).toMatchObject({ reason: 'unknown-id' });
    expect(events[1]).toMatchObject({ id: live, data: 'live' });
  });
});

describe('the seam, when live events overflow while the replay is read (issue 12.4)', () => {
  it('ends after what was held; the next connection resumes with nothing lost or repeated', async () => {
    const gated = gatedBroker();
    const hub = hubWith({
      broker: gated.broker,
      limits: { maxQueuedBytes: 2000 },
      reconnectHint: { delay: 0, spread: 0 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hub.publish('t', `before-${i}`));
    // The replay's page is read before the live events below: it is small and complete, and
    // only the hold can overflow.
    const hold = gated.hold({ readFirst: true });
    const pending = hub.subscribe({ topics: ['t'], lastEventId: ids[0] as string });
    await hold.entered;
    // ~4 kB of live events while the replay is being read: more than the hold may keep.
    for (let i = 0; i < 40; i++) ids.push(await hub.publish('t', `during-${i}-${'z'.repeat(80)}`));
    hold.release();
    const reading = readUntil(await pending, (e) => e.data === 'end');
    await nextMacrotask();
    ids.push(await hub.publish('t', 'end'));
    const seen = (await reading).map((e) => e.id);
    // The first connection carried the replay and what was held, and ended (the retry hint)
    // before the events it could not hold.
    expect(seen.length).toBeGreaterThan(4);
    expect(seen.length).toBeLessThan(ids.length - 1);
    for (let round = 0; round < 10 && seen[seen.length - 1] !== ids[ids.length - 1]; round++) {
      const res = await hub.subscribe({ topics: ['t'], lastEventId: seen[seen.length - 1] as string });
      seen.push(...(await readUntil(res, (e) => e.data === 'end')).map((e) => e.id));
    }
    expect(seen).toEqual(ids.slice(1));
  });
});

describe('a stream ends with its authorization (issue 12.6)', () => {
  it('ends at expiresAt with a retry hint, so the client returns with fresh credentials', async () => {
    const hub = hubWith({
      reconnectHint: { delay: 0, spread: 0 },
      authorize: () => ({ expiresAt: Date.now() + 150 }),
    });
    const res = await hub.handler(new Request('http://h/?topic=t'));
    expect(res.status).toBe(200);
    await hub.publish('t', 'before expiry');
    const { events, retries } = await readAll(res);
    expect(events.map((e) => e.data)).toEqual(['before expiry']);
    expect(retries).toEqual([0]);
    expect(hub.metrics().tokenExpiries).toBe(1);
    expect(hub.metrics().subscribers).toBe(0);
  });

  it('jwtAuthorizer allows a token until its exp (plus clockTolerance); an expired one is 401', async () => {
    const { SignJWT } = await import('jose');
    const key = new TextEncoder().encode('k'.repeat(32));
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await new SignJWT({ ssekit: { subscribe: ['t'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(exp)
      .sign(key);
    const request = new Request('http://h/?topic=t', { headers: { authorization: `Bearer ${token}` } });
    const plain = jwtAuthorizer({ key, algorithms: ['HS256'] });
    expect(await plain({ request, action: 'subscribe', topics: ['t'] })).toEqual({ expiresAt: exp * 1000 });
    const lenient = jwtAuthorizer({ key, algorithms: ['HS256'], clockTolerance: 5000 });
    expect(await lenient({ request, action: 'subscribe', topics: ['t'] })).toEqual({
      expiresAt: exp * 1000 + 5000,
    });
    const past = await new SignJWT({ ssekit: { subscribe: ['t'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(key);
    const hub = hubWith({ authorize: plain });
    const refused = await hub.handler(
      new Request('http://h/?topic=t', { headers: { authorization: `Bearer ${past}` } }),
    );
    expect(refused.status).toBe(401);
  });

  it('an expiry further off than a timer can wait (2^31-1 ms, ~24.8 days) does not end the stream', async () => {
    const hub = hubWith({ authorize: () => ({ expiresAt: Date.now() + 2 ** 31 + 60_000 }) });
    const res = await hub.handler(new Request('http://h/?topic=t'));
    expect(res.status).toBe(200);
    // A timer past the limit would fire after 1 ms: give it the time.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await hub.publish('t', 'still here');
    const { events, done } = await readEvents(res, 1);
    expect(done).toBe(false);
    expect(events.map((e) => e.data)).toEqual(['still here']);
    expect(hub.metrics()).toMatchObject({ subscribers: 1, tokenExpiries: 0 });
    await res.body?.cancel();
  });

  it('an authorization that has already expired is 401 invalid_token, not a stream that ends at once', async () => {
    const hub = hubWith({ authorize: () => ({ expiresAt: Date.now() - 1000 }) });
    const res = await hub.handler(new Request('http://h/?topic=t'));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(hub.metrics()).toMatchObject({ subscribers: 0, tokenExpiries: 0, rejected: { 401: 1 } });
  });

  it('jwtAuthorizer takes clockTolerance in ms: a token expired 10 s ago passes with 30,000, not with 5,000', async () => {
    const { SignJWT } = await import('jose');
    const key = new TextEncoder().encode('k'.repeat(32));
    const token = await new SignJWT({ ssekit: { subscribe: ['t'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(key);
    const request = new Request('http://h/?topic=t', { headers: { authorization: `Bearer ${token}` } });
    const verdict = (clockTolerance: number) =>
      jwtAuthorizer({ key, algorithms: ['HS256'], clockTolerance })({
        request,
        action: 'subscribe',
        topics: ['t'],
      });
    expect(await verdict(5000)).toBe('unauthenticated');
    expect(await verdict(30_000)).toMatchObject({ expiresAt: expect.any(Number) });
    expect(() => jwtAuthorizer({ key, algorithms: ['HS256'], clockTolerance: -1 })).toThrow(RangeError);
  });
});

describe('publishing from browsers (issue 12.10)', () => {
  const body = JSON.stringify({ topic: 't', data: 'x' });
  const post = (headers: Record<string, string>) =>
    new Request('http://hub.example/', { method: 'POST', body, headers });

  it('requires application/json: 415 for what a cross-site form or beacon can send', async () => {
    const hub = hubWith();
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await hub.handler(post({ 'content-type': type }));
      expect(res.status).toBe(415);
    }
    expect((await hub.handler(new Request('http://hub.example/', { method: 'POST', body }))).status).toBe(
      415,
    );
    expect((await hub.handler(post({ 'content-type': 'Application/JSON; charset=utf-8' }))).status).toBe(200);
    expect(hub.metrics().eventsPublished).toBe(1);
    expect(hub.metrics().rejected['415']).toBe(4);
  });

  it('refuses a cookie-carrying publish from an origin not allowed (CSRF)', async () => {
    const hub = hubWith({ allowedOrigins: ['https://app.example'] });
    const json = { 'content-type': 'application/json', host: 'hub.example', cookie: 'ssekit_token=abc' };
    expect((await hub.handler(post({ ...json, origin: 'https://evil.example' }))).status).toBe(403);
    expect((await hub.handler(post({ ...json, origin: 'null' }))).status).toBe(403);
    expect((await hub.handler(post({ ...json, origin: 'https://app.example' }))).status).toBe(200);
    expect((await hub.handler(post({ ...json, origin: 'http://hub.example' }))).status).toBe(200);
    // A token is not sent by the browser on its own: not a CSRF vector.
    const bearer = { ...json, authorization: 'Bearer abc', origin: 'https://evil.example' };
    expect((await hub.handler(post(bearer))).status).toBe(200);
  });
});

describe('a publish body that cannot be read, and a broker that refuses it', () => {
  const json = { 'content-type': 'application/json' };

  it('answers 415 to a body that names no content type at all', async () => {
    const hub = hubWith();
    const bytes = new TextEncoder().encode(JSON.stringify({ topic: 't', data: 'x' }));
    // A byte body gets no default Content-Type (a string body would get text/plain).
    const res = await hub.handler(new Request('http://hub.example/', { method: 'POST', body: bytes }));
    expect(res.status).toBe(415);
    expect(res.headers.get('accept-post')).toBe('application/json');
  });

  it('answers 400 to a body that is not UTF-8, and publishes nothing', async () => {
    const hub = hubWith();
    const head = new TextEncoder().encode('{"topic":"t","data":"');
    const body = new Uint8Array([...head, 0xff, 0xfe, 0x22, 0x7d]); // invalid bytes, then `"}`
    const res = await hub.handler(
      new Request('http://hub.example/', { method: 'POST', body, headers: json }),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('not UTF-8');
    expect(hub.metrics().eventsPublished).toBe(0);
  });

  it('answers 503 when the broker refuses the publish, and reports the error', async () => {
    const errors: unknown[] = [];
    const inner = createMemoryBroker();
    const down = new Error('store down');
    const hub = hubWith({
      broker: { ...inner, publish: () => Promise.reject(down) },
      onError: (error) => errors.push(error),
    });
    const body = JSON.stringify({ topic: 't', data: 'x' });
    const res = await hub.handler(
      new Request('http://hub.example/', { method: 'POST', body, headers: json }),
    );
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('event store is unavailable');
    expect(errors).toEqual([down]);
  });

  it('a broker that refuses a publish as bad input gives 400 with its message, not an error report', async () => {
    const errors: unknown[] = [];
    const inner = createMemoryBroker();
    const body = JSON.stringify({ topic: 't', data: 'x' });
    const hub = hubWith({
      broker: {
        ...inner,
        publish: () => Promise.reject(new HubInputError('body-too-large', 'the store takes at most 1 kB')),
      },
      onError: (error) => errors.push(error),
    });
    const res = await hub.handler(
      new Request('http://hub.example/', { method: 'POST', body, headers: json }),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('the store takes at most 1 kB\n');
    expect(errors).toEqual([]);
  });
});

describe('capacity (issue 12.8)', () => {
  it('by default one address holds at most 1,000 subscriptions; others still get in', async () => {
    const hub = hubWith();
    const held: Response[] = [];
    for (let i = 0; i < 1000; i++) {
      const res = await hub.subscribe({ topics: ['t'], clientAddress: '203.0.113.7' });
      expect(res.status).toBe(200);
      held.push(res);
    }
    const refused = await hub.subscribe({ topics: ['t'], clientAddress: '203.0.113.7' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    const other = await hub.subscribe({ topics: ['t'], clientAddress: '198.51.100.1' });
    expect(other.status).toBe(200);
    await other.body?.cancel();
    for (const res of held) await res.body?.cancel();
  });
});

describe('capacity while authorize runs (issue 12.8)', () => {
  it('counts again after an asynchronous authorize: requests waiting on it together cannot pass maxSubscribers', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let waiting = 0;
    const hub = hubWith({
      limits: { maxSubscribers: 1 },
      authorize: async () => {
        waiting++;
        await gate;
        return true;
      },
    });
    // Both pass the first count (nobody is subscribed yet) and wait on the hook together.
    const first = hub.handler(new Request('http://h/?topic=t'));
    const second = hub.handler(new Request('http://h/?topic=t'));
    while (waiting < 2) await nextMacrotask();
    release();
    const statuses = (await Promise.all([first, second])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 503]);
    expect(hub.metrics().subscribers).toBe(1);
  });
});

describe('HTTP hygiene (issue 12.12, 12.14)', () => {
  it('answers only the allowed hosts (DNS rebinding)', async () => {
    const hub = hubWith({ allowedHosts: ['localhost', '.example.com'] });
    const get = (host: string) => hub.handler(new Request('http://x/?topic=t', { headers: { host } }));
    expect((await get('evil.test')).status).toBe(403);
    expect((await get('localhost.evil.test:80')).status).toBe(403);
    const ok = await get('localhost:8080');
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    const sub = await get('hub.example.com');
    expect(sub.status).toBe(200);
    await sub.body?.cancel();
  });

  it('HEAD on a subscribe URL: the stream headers, no body, no subscriber', async () => {
    const hub = hubWith();
    const res = await hub.handler(new Request('http://h/?topic=t', { method: 'HEAD' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.body).toBeNull();
    expect(hub.metrics().subscribers).toBe(0);
    expect((await hub.handler(new Request('http://h/', { method: 'HEAD' }))).status).toBe(400);
  });

  it('sends X-Content-Type-Options: nosniff on streams and on refusals', async () => {
    const hub = hubWith();
    const answers = [
      await hub.handler(new Request('http://h/?topic=t')),
      await hub.handler(new Request('http://h/')),
      await hub.handler(new Request('http://h/', { method: 'PUT', body: '' })),
      await hub.handler(new Request('http://h/', { method: 'POST', body: '{}' })),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 400, 405, 415]);
    for (const res of answers) expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answers[2]?.headers.get('allow')).toBe('GET, HEAD, POST');
    await answers[0]?.body?.cancel();
  });

  it('never echoes an oversized Last-Event-ID in the reset', async () => {
    const hub = hubWith();
    await hub.publish('t', 'x');
    const huge = `1-${'9'.repeat(12_000)}`;
    const res = await hub.handler(new Request('http://h/?topic=t', { headers: { 'last-event-id': huge } }));
    expect(res.headers.get(RESUME_HEADER)).toBe('reset');
    const { events } = await readEvents(res, 1);
    expect(events[0]?.event).toBe(RESET_EVENT);
    expect(String(events[0]?.data).length).toBeLessThan(300);
    expect(JSON.parse(events[0]?.data as string)).toMatchObject({ reason: 'invalid-id' });
    // Same bound for an id handed to subscribe() by server code.
    const direct = await hub.subscribe({ topics: ['t'], lastEventId: huge });
    const got = await readEvents(direct, 1);
    expect(String(got.events[0]?.data).length).toBeLessThan(300);
  });

  it("merges its headers over the stream defaults: the user's value wins, cookies stay apart", async () => {
    const headers = new Headers({
      'cache-control': 'no-store',
      'access-control-allow-origin': 'https://a.example',
    });
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Path=/');
    const hub = hubWith({ headers });
    const res = await hub.handler(new Request('http://h/?topic=t'));
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://a.example');
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    await res.body?.cancel();
  });
});
