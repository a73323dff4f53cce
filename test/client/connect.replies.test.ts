/**
 * connect() and EventSource against a real `ssekit/replies` server (node:http through the
 * ssekit/node adapter, 127.0.0.1): a POST whose answer names a reply (`Content-Location`) is
 * resumed by GET + Last-Event-ID, never posted again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { HttpError, NetworkError, StreamEndError } from '../../src/client/errors.js';
import { EventSource } from '../../src/client/event-source.js';
import type { ServerSentEvent } from '../../src/protocol/types.js';
import { listen } from '../helpers/server.js';
import { recordingServersPerTest, steppedProducer, tokens } from '../replies/helpers.js';
import { deferred } from './helpers.js';

const N = 12;
const ALL = Array.from({ length: N }, (_, i) => `t${i + 1}`);
// No backoff between attempts: the tests wait for events, never for time.
const NOW = { initialDelay: 0, maxDelay: 0 };

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

/** createReplies on node:http recording every request: POST /chat starts `produce`. */
const serve = recordingServersPerTest();

const CHAT = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ prompt: 'hi' }),
  retry: NOW,
} as const;

describe('connect: a POST that names a reply resumes with GET + Last-Event-ID', () => {
  it('a cut TCP connection mid-reply: resumed by GET, every token once, one POST, one producer', async () => {
    const p = steppedProducer(N);
    const app = await serve(p.produce);
    const errors: unknown[] = [];
    const connection = connect(`${app.url}/chat`, { ...CHAT, onError: (e) => void errors.push(e) });
    const seen: ServerSentEvent[] = [];
    // Cut after tokens 3, 6 and 9; the producer goes on only once the client has each token.
    for await (const event of connection) {
      seen.push(event);
      const i = seen.length;
      if (event.event === 'end') continue;
      if (i % 3 === 0 && i < N) app.cut();
      p.step(i);
    }
    expect(tokens(seen)).toEqual(ALL);
    expect(seen.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"done"}' });
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(app.posts()).toBe(1);
    expect(app.replies.metrics().started).toBe(1);
    expect(p.state.runs).toBe(1);
    // Three resumes, each a GET of the reply URL after the last token seen; after `end`,
    // nothing more (not even the GET that would get 204).
    const gets = app.hits.filter((h) => h.method === 'GET');
    expect(gets.map((h) => h.lastEventId)).toEqual([seen[2]!.id, seen[5]!.id, seen[8]!.id]);
    expect(new Set(gets.map((h) => h.path))).toEqual(new Set([new URL(connection.replyUrl!).pathname]));
    // A GET has no body, so no content type either; the POST had both.
    expect(gets.every((h) => h.contentType === undefined && h.body === '')).toBe(true);
    expect(app.hits[0]).toMatchObject({ contentType: 'application/json', body: '{"prompt":"hi"}' });
    expect(app.hits).toHaveLength(4);
    expect(errors).toHaveLength(3);
    // A destroyed socket reads as a network error, or as the end of a body sent without a
    // length when the cut lands between two chunks.
    expect(errors.every((e) => e instanceof NetworkError || e instanceof StreamEndError)).toBe(true);
    await expect(connection.closed).resolves.toBeUndefined();
    expect(connection.readyState).toBe(2);
  });

  it('a response cut short by maxDuration (retry hint, no end) resumes by GET too', async () => {
    const p = steppedProducer(6);
    const app = await serve(p.produce, { maxDuration: 50, retry: 0 });
    const connection = connect(`${app.url}/chat`, CHAT);
    const seen: ServerSentEvent[] = [];
    for await (const event of connection) {
      seen.push(event);
      // After t3, the producer waits until the POST's response has timed out and a GET came.
      if (seen.length === 3) await until(() => app.hits.length >= 2);
      p.step(seen.length);
    }
    expect(tokens(seen)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6']);
    expect(app.posts()).toBe(1);
    // Resumed after an event it had (t3, unless a slow machine cut the POST sooner).
    expect(seen.slice(0, 3).map((e) => e.id)).toContain(app.hits[1]!.lastEventId);
    expect(app.hits.slice(1).every((h) => h.method === 'GET' && h.lastEventId !== undefined)).toBe(true);
    expect(app.replies.metrics().started).toBe(1);
  });

  it('exposes the reply URL, resolved against the response URL, once the answer names it', async () => {
    const p = steppedProducer(1);
    p.finish();
    const app = await serve(p.produce);
    const opened = deferred<string | undefined>();
    const connection = connect(`${app.url}/chat`, {
      ...CHAT,
      onOpen: () => opened.resolve(connection.replyUrl),
    });
    expect(connection.replyUrl).toBeUndefined();
    const url = await opened.promise;
    expect(url).toMatch(new RegExp(`^${app.url}/replies/[^/]+$`));
    const events: ServerSentEvent[] = [];
    for await (const event of connection) events.push(event);
    expect(events.map((e) => e.event)).toEqual(['message', 'end']);
    expect(connection.replyUrl).toBe(url);
  });

  it('a GET of the reply after its end answers 204, and connect stops there', async () => {
    const p = steppedProducer(2);
    p.finish();
    const app = await serve(p.produce);
    const first = connect(`${app.url}/chat`, CHAT);
    const events: ServerSentEvent[] = [];
    for await (const event of first) events.push(event);
    const end = events.at(-1)!;
    expect(end.event).toBe('end');
    const onEvent = (): void => {
      throw new Error('no event expected');
    };
    const again = connect(first.replyUrl!, { lastEventId: end.id, reconnect: NOW, onEvent });
    await expect(again.closed).resolves.toBeUndefined();
    expect(app.hits.map((h) => [h.method, h.lastEventId])).toEqual([
      ['POST', undefined],
      ['GET', end.id],
    ]);
  });

  it('a reply gone (404) when resuming is a fatal HttpError: no retry loop, no POST again', async () => {
    const p = steppedProducer(4);
    // A finished reply can be read for 1 ms: the resume below comes after that.
    const app = await serve(p.produce, { limits: { retention: 1 } });
    const resume = deferred();
    const finished = deferred();
    const connection = connect(`${app.url}/chat`, {
      ...CHAT,
      // Holds the resume back until the reply has ended and expired.
      fetch: async (url, init) => {
        if (init.method === 'GET') await resume.promise;
        return fetch(url, init);
      },
    });
    const seen: ServerSentEvent[] = [];
    const error = (async () => {
      try {
        for await (const event of connection) {
          seen.push(event);
          if (seen.length > 1) continue;
          app.cut();
          // Sent while nobody reads; then the producer returns (`end`).
          p.finish();
          finished.resolve();
        }
      } catch (caught) {
        return caught;
      }
    })();
    await finished.promise;
    await until(() => app.replies.metrics().running === 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    resume.resolve();
    const caught = await error;
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).status).toBe(404);
    // The request that failed: the GET of the reply, not the POST.
    expect([(caught as HttpError).method, (caught as HttpError).url]).toEqual(['GET', connection.replyUrl]);
    expect(connection.replyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+/);
    expect(connection.replyUrl).not.toBe(`${app.url}/chat`);
    expect(tokens(seen)).toEqual(['t1']);
    expect(app.hits.map((h) => h.method)).toEqual(['POST', 'GET']);
    await expect(connection.closed).rejects.toBe(caught);
  });

  it('after a reload: a second connect() from the stored URL and last id gets the rest once', async () => {
    const p = steppedProducer(N);
    const app = await serve(p.produce);
    // sessionStorage, as the pattern in docs/replies.md uses it.
    const storage = new Map<string, string>();
    const first = connect(`${app.url}/chat`, CHAT);
    const before: ServerSentEvent[] = [];
    for await (const event of first) {
      before.push(event);
      storage.set('reply', JSON.stringify({ url: first.replyUrl, lastEventId: first.lastEventId }));
      if (before.length === 5) break; // the page goes away
      p.step(before.length);
    }
    // The producer goes on while no page is there.
    p.finish();
    const saved = JSON.parse(storage.get('reply')!) as { url: string; lastEventId: string };
    expect(saved.lastEventId).toBe(before[4]!.id);
    const second = connect(saved.url, { lastEventId: saved.lastEventId, reconnect: NOW });
    const after: ServerSentEvent[] = [];
    for await (const event of second) {
      after.push(event);
      if (event.event === 'end') break;
    }
    expect(tokens([...before, ...after])).toEqual(ALL);
    expect(after.at(-1)?.event).toBe('end');
    expect(app.posts()).toBe(1);
    expect(app.replies.metrics().started).toBe(1);
    expect(app.hits.map((h) => [h.method, h.lastEventId])).toEqual([
      ['POST', undefined],
      ['GET', saved.lastEventId],
    ]);
  });

  it('a POST answered without Content-Location is sent again on reconnect, as before', async () => {
    let posts = 0;
    const server = await listen((req, res) => {
      posts++;
      req.resume();
      if (posts > 1) return res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`id: ${posts}\ndata: once\n\n`);
    });
    open.push(server.close);
    const events: ServerSentEvent[] = [];
    for await (const event of connect(server.url, CHAT)) events.push(event);
    expect(events.map((e) => e.data)).toEqual(['once']);
    expect(posts).toBe(2);
  });

  it('resolves a relative Content-Location against the URL the answer came from (after a redirect)', async () => {
    const seen: string[] = [];
    const server = await listen((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers['last-event-id'] ?? ''}`.trim());
      req.resume();
      if (req.url === '/old/chat') return res.writeHead(307, { location: '/new/chat' }).end();
      if (req.url === '/new/reply/1' && req.headers['last-event-id'] === '2') {
        return res.writeHead(204).end();
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-location': 'reply/1' });
      // Ends without `end`: the client resumes at the reply URL.
      res.end(req.method === 'POST' ? 'id: 1\ndata: a\n\n' : 'id: 2\ndata: b\n\n');
    });
    open.push(server.close);
    const connection = connect(`${server.url}/old/chat`, CHAT);
    const data: string[] = [];
    for await (const event of connection) data.push(event.data);
    expect(data).toEqual(['a', 'b']);
    expect(connection.replyUrl).toBe(`${server.url}/new/reply/1`);
    expect(seen).toEqual(['POST /old/chat', 'POST /new/chat', 'GET /new/reply/1 1', 'GET /new/reply/1 2']);
  });

  for (const [what, location] of [
    ['on another origin', 'http://localhost:1/reply/1'],
    ['that is not a URL', 'http://[::1'],
  ]) {
    it(`a Content-Location ${what} is ignored: the POST reconnects as before`, async () => {
      const seen: string[] = [];
      const server = await listen((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        req.resume();
        if (seen.length > 1) return res.writeHead(204).end();
        res.writeHead(200, { 'content-type': 'text/event-stream', 'content-location': location! });
        res.end('id: 1\ndata: a\n\n');
      });
      open.push(server.close);
      const connection = connect(`${server.url}/chat`, CHAT);
      for await (const _ of connection);
      expect(connection.replyUrl).toBeUndefined();
      expect(seen).toEqual(['POST /chat', 'POST /chat']);
    });
  }

  it('a GET answered with Content-Location reconnects to its own URL, as before', async () => {
    const seen: string[] = [];
    const server = await listen((req, res) => {
      seen.push(`${req.url} ${req.headers['last-event-id'] ?? ''}`.trim());
      if (seen.length > 1) return res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-location': '/elsewhere' });
      res.end('id: 1\nevent: end\ndata: not a reply\n\n');
    });
    open.push(server.close);
    const connection = connect(`${server.url}/feed`, { reconnect: NOW });
    const events: ServerSentEvent[] = [];
    for await (const event of connection) events.push(event);
    expect(events.map((e) => e.event)).toEqual(['end']);
    expect(connection.replyUrl).toBeUndefined();
    expect(seen).toEqual(['/feed', '/feed 1']);
  });
});

describe('EventSource: a reply URL is a GET stream like any other', () => {
  it('resumes it with Last-Event-ID after a cut, every token once, then closes on 204', async () => {
    const p = steppedProducer(N);
    const app = await serve(p.produce);
    // Starts the reply and keeps only its URL (as a page would before a reload).
    const starter = connect(`${app.url}/chat`, CHAT);
    for await (const _ of starter) break;
    const replyUrl = starter.replyUrl!;
    const source = new EventSource(replyUrl, { fetch: withRetryZero });
    const seen: { type: string; data: string; id: string }[] = [];
    const closed = deferred();
    source.addEventListener('message', (event) => {
      seen.push({ type: event.type, data: event.data, id: event.lastEventId });
      if (seen.length === 4) app.cut();
      p.step(seen.length);
    });
    source.addEventListener('end', (event) => {
      seen.push({ type: event.type, data: event.data, id: event.lastEventId });
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) closed.resolve();
    };
    await closed.promise;
    expect(seen.filter((e) => e.type === 'message').map((e) => e.data)).toEqual(ALL);
    expect(seen.at(-1)?.type).toBe('end');
    const gets = app.hits.filter((h) => h.method === 'GET');
    // The cut after t4, the end (the server ends the stream), then 204.
    expect(gets.map((h) => h.lastEventId)).toEqual([undefined, seen[3]!.id, seen.at(-1)!.id]);
    expect(app.posts()).toBe(1);
    expect(app.replies.metrics().started).toBe(1);
  });
});

describe('EventSource with method POST', () => {
  it('resumes a reply as connect does: by GET after a cut, never posting again; closes after end', async () => {
    const p = steppedProducer(N);
    const app = await serve(p.produce);
    const source = new EventSource(`${app.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      fetch: withRetryZero,
    });
    const seen: string[] = [];
    const closed = deferred();
    source.onmessage = (event) => {
      seen.push(event.data);
      if (seen.length === 5) app.cut();
      p.step(seen.length);
    };
    source.addEventListener('end', () => seen.push('(end)'));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) closed.resolve();
    };
    await closed.promise;
    expect(seen).toEqual([...ALL, '(end)']);
    expect(app.hits.map((h) => h.method)).toEqual(['POST', 'GET']);
    expect(app.replies.metrics().started).toBe(1);
  });
});

/**
 * The server's `retry: 0` field at the start of every stream, so that EventSource (3 s by
 * default) reconnects at once and the test waits for events, not for time.
 */
async function withRetryZero(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status !== 200 || response.body === null) return response;
  const head = new TextEncoder().encode('retry: 0\n\n');
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start: (controller) => controller.enqueue(head),
    }),
  );
  return new Response(body, response);
}

async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !test(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(test()).toBe(true);
}
