import { afterEach, describe, expect, it } from 'vitest';
import {
  type ContentTypeError,
  HttpError,
  isContentTypeError,
  isHttpError,
  NetworkError,
  StreamEndError,
} from '../../src/client/errors.js';
import { type Connection, connect, type ServerSentEvent } from '../../src/client/index.js';
import { deferred, type Handler, sse, startServer, type TestServer } from './helpers.js';

let server: TestServer | undefined;
const connections: Connection[] = [];

afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function serve(handler: Handler): Promise<string> {
  server = await startServer(handler);
  return server.url;
}

function track(c: Connection): Connection {
  connections.push(c);
  return c;
}

/** Runs a connection until it settles; returns its events and how it ended. */
async function settle(c: Connection): Promise<{ events: ServerSentEvent[]; error: unknown }> {
  const events: ServerSentEvent[] = [];
  try {
    for await (const event of c) events.push(event);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

describe('connect: the response cases of the WHATWG processing model', () => {
  it('opens on 200 text/event-stream, with parameters, and sends the spec request headers', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'Text/Event-Stream; charset=utf-8' });
      res.end('data: hello\n\nevent: named\ndata: a\ndata: b\nid: 7\n\n');
    });
    const opened: number[] = [];
    const c = track(connect(`${url}/s`, { reconnect: false, onOpen: (r) => void opened.push(r.status) }));
    expect(c.readyState).toBe(0);
    const { events, error } = await settle(c);
    expect(error).toBeUndefined();
    expect(opened).toEqual([200]);
    expect(events).toEqual([
      { event: 'message', data: 'hello', id: '' },
      { event: 'named', data: 'a\nb', id: '7' },
    ]);
    expect(c.lastEventId).toBe('7');
    expect(c.readyState).toBe(2);
    const [request] = server!.requests;
    expect(request!.method).toBe('GET');
    expect(request!.headers.accept).toBe('text/event-stream');
    expect(request!.headers['cache-control']).toBe('no-cache'); // fetch's rendering of cache: 'no-store'
    expect(request!.headers['last-event-id']).toBeUndefined();
  });

  it('ignores one leading BOM and no more: a second one is part of the first line (WPT format-bom-2)', async () => {
    // The decoder keeps the BOM (ignoreBOM) for the parser, which skips one: with both
    // skipping one, two would go and `data: 1` would be dispatched.
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(Buffer.from('\uFEFF\uFEFFdata: 1\n\ndata: 2\n\n'));
    });
    const { events, error } = await settle(track(connect(url, { reconnect: false })));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.data)).toEqual(['2']);
  });

  it('is open (readyState 1) while the stream flows', async () => {
    const url = await serve((_req, res) => {
      sse(res);
      res.write('data: one\n\n');
    });
    const c = track(connect(url, {}));
    for await (const event of c) {
      expect(event.data).toBe('one');
      expect(c.readyState).toBe(1);
      break;
    }
    expect(c.readyState).toBe(2);
  });

  it('closes for good on 204: no error, no retry', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const errors: unknown[] = [];
    const c = track(connect(url, { onError: (e) => void errors.push(e), reconnect: { initialDelay: 0 } }));
    const { events, error } = await settle(c);
    expect([events, error, errors]).toEqual([[], undefined, []]);
    await expect(c.closed).resolves.toBeUndefined();
    expect(server!.requests).toHaveLength(1);
  });

  it.each([500, 502, 503, 408, 429])(
    'schedules a retry on %i, with a typed error and a body excerpt',
    async (status) => {
      const url = await serve((_req, res) => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`overloaded ${'x'.repeat(5000)}`);
      });
      const errors: unknown[] = [];
      const retried = deferred<number>();
      const c = track(
        connect(url, {
          onError: (e) => void errors.push(e),
          onReconnect: (ms) => {
            retried.resolve(ms);
            c.close();
          },
        }),
      );
      const ms = await retried.promise;
      expect(ms).toBeGreaterThanOrEqual(1000);
      expect(errors).toHaveLength(1);
      const error = errors[0] as HttpError;
      expect(error).toBeInstanceOf(HttpError);
      expect(error.status).toBe(status);
      expect(error.body.startsWith('overloaded xxx')).toBe(true);
      expect(error.body.length).toBeLessThanOrEqual(1024);
      await expect(c.closed).resolves.toBeUndefined();
    },
  );

  it('a status error whose body breaks off while read is still the HttpError (empty excerpt), not a network error', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.flushHeaders();
      // The connection drops before any of the promised 1000 bytes: reading the body fails.
      setTimeout(() => res.destroy(), 20);
    });
    const errors: unknown[] = [];
    const c = track(connect(url, { reconnect: false, onError: (e) => void errors.push(e) }));
    await expect(c.closed).rejects.toBeInstanceOf(HttpError);
    const error = errors[0] as HttpError;
    expect(error.status).toBe(503);
    expect(error.body).toBe('');
  });

  it('honours Retry-After (seconds) on 503', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '120' });
      res.end();
    });
    const retried = deferred<number>();
    const c = track(connect(url, { onReconnect: (ms) => retried.resolve(ms) }));
    expect(await retried.promise).toBeGreaterThanOrEqual(120_000);
    c.close();
  });

  it.each([400, 401, 403, 404, 410, 201, 304])('fails for good on %i', async (status) => {
    const url = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/event-stream' });
      res.end(status === 304 ? undefined : 'nope');
    });
    const retries: number[] = [];
    const c = track(connect(url, { onReconnect: (ms) => void retries.push(ms) }));
    const { error } = await settle(c);
    expect(isHttpError(error)).toBe(true);
    expect((error as HttpError).status).toBe(status);
    await expect(c.closed).rejects.toBe(error);
    expect(retries).toEqual([]);
    expect(server!.requests).toHaveLength(1);
    expect(c.readyState).toBe(2);
  });

  it('lets onError overrule: retry a 404, stop on a 503', async () => {
    const url = await serve((req, res, _r, n) => {
      if (req.url === '/missing' && n < 3) {
        res.writeHead(404);
        res.end();
      } else if (req.url === '/missing') {
        sse(res);
        res.end('data: found\n\n');
      } else {
        res.writeHead(503);
        res.end();
      }
    });
    const a = track(
      connect(`${url}/missing`, { reconnect: false, onError: (e) => (isHttpError(e) ? 0 : undefined) }),
    );
    expect((await settle(a)).events.map((e) => e.data)).toEqual(['found']);
    expect(server!.requests).toHaveLength(3);

    const b = track(connect(`${url}/busy`, { onError: () => false }));
    const { error } = await settle(b);
    expect((error as HttpError).status).toBe(503);
    expect(server!.requests).toHaveLength(4);
  });

  it.each([
    ['text/html', 'text/html'],
    ['application/json; charset=utf-8', 'application/json; charset=utf-8'],
    ['text/event-streams', 'text/event-streams'],
    ['none', null],
  ])('fails for good on content type %s', async (_label, type) => {
    const url = await serve((_req, res) => {
      if (type) res.setHeader('content-type', type);
      else res.removeHeader('content-type');
      res.writeHead(200);
      res.end('data: not an event stream\n\n');
    });
    const c = track(connect(url, {}));
    const { events, error } = await settle(c);
    expect(events).toEqual([]);
    expect(isContentTypeError(error)).toBe(true);
    expect((error as ContentTypeError).contentType).toBe(type);
    expect(server!.requests).toHaveLength(1);
  });

  it('reconnects after the server ends the stream, and after a network error', async () => {
    const url = await serve((_req, res, _r, n) => {
      sse(res);
      if (n === 1) res.end('retry: 0\nid: 1\ndata: first\n\n');
      else if (n === 2) {
        res.write('id: 2\ndata: second\n\ndata: cut in the midd');
        setImmediate(() => res.socket?.destroy());
      } else res.end('data: third\n\n');
    });
    const errors: unknown[] = [];
    const c = track(connect(url, { onError: (e) => void errors.push(e) }));
    const seen: string[] = [];
    for await (const event of c) {
      seen.push(event.data);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['first', 'second', 'third']);
    expect(errors[0]).toBeInstanceOf(StreamEndError);
    expect(errors[1]).toBeInstanceOf(NetworkError);
    expect((errors[1] as NetworkError).cause).toBeDefined();
    expect(server!.requests.map((r) => r.lastEventId)).toEqual([undefined, '1', '2']);
  });

  it('reconnects when nothing listens on the port yet (network error), then opens', async () => {
    // Grab a free port, close it, and let the client fail against it first.
    const probe = await startServer(() => {});
    const dead = probe.url;
    await probe.close();
    const errors: unknown[] = [];
    const retried = deferred<number>();
    const c = track(
      connect(dead, {
        onError: (e) => void errors.push(e),
        onReconnect: (ms) => {
          retried.resolve(ms);
          c.close();
        },
      }),
    );
    await retried.promise;
    expect(errors[0]).toBeInstanceOf(NetworkError);
    // The message names the system error under fetch's "fetch failed", with the address.
    const port = new URL(dead).port;
    expect((errors[0] as NetworkError).message).toBe(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it.each([0, 1, 3])(
    'reconnect.maxAttempts %i: that many retries, one more request in all, counted at the server',
    async (n) => {
      const url = await serve((_req, res) => {
        // The first answer is a stream that sets a 1 ms reconnection time and ends at once;
        // every later one is a 503: failures in a row, all retryable.
        if (server!.requests.length === 1) {
          sse(res);
          res.end('retry: 1\n\n');
        } else {
          res.writeHead(503);
          res.end();
        }
      });
      const { error } = await settle(track(connect(url, { reconnect: { maxAttempts: n, maxDelay: 5 } })));
      expect(server!.requests).toHaveLength(n + 1);
      expect(error).toBeInstanceOf(n === 0 ? StreamEndError : HttpError);
    },
  );

  it('an HttpError says what was asked and what came back, with the response headers readable', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(401, 'Unauthorized', {
        'www-authenticate': 'Bearer realm="chat"',
        'content-type': 'application/json',
      });
      res.end('{"error":"token expired"}');
    });
    const { error } = await settle(
      track(connect(`${url}/chat`, { method: 'POST', body: '{}', reconnect: false })),
    );
    expect(isHttpError(error)).toBe(true);
    const http = error as HttpError;
    expect(http.message).toBe(`HTTP 401 Unauthorized: POST ${url}/chat`);
    expect([http.status, http.statusText, http.method, http.url, http.body]).toEqual([
      401,
      'Unauthorized',
      'POST',
      `${url}/chat`,
      '{"error":"token expired"}',
    ]);
    expect(http.response.headers.get('www-authenticate')).toBe('Bearer realm="chat"');
  });

  it('follows redirects and keeps Last-Event-ID on the redirected request', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/old') {
        res.writeHead(307, { location: '/new' });
        res.end();
      } else if (req.url === '/moved') {
        res.writeHead(301, { location: '/new' });
        res.end();
      } else {
        sse(res);
        res.end('id: 9\ndata: here\n\n');
      }
    });
    let finalUrl = '';
    const c = track(
      connect(`${url}/old`, {
        reconnect: false,
        lastEventId: 'start',
        onOpen: (r) => void (finalUrl = r.url),
      }),
    );
    expect((await settle(c)).events).toEqual([{ event: 'message', data: 'here', id: '9' }]);
    expect(finalUrl).toBe(`${url}/new`);
    expect(server!.requests.map((r) => [r.url, r.lastEventId])).toEqual([
      ['/old', 'start'],
      ['/new', 'start'],
    ]);
    const d = track(connect(`${url}/moved`, { reconnect: false }));
    expect((await settle(d)).events.map((e) => e.data)).toEqual(['here']);
  });

  it('sends Last-Event-ID from init, updates it on each block, and drops it after an empty id', async () => {
    const url = await serve((_req, res, _r, n) => {
      sse(res);
      if (n === 1) res.end('retry: 0\ndata: a\n\nid: 42\ndata: b\n\nid: ünï✓\n\n');
      else if (n === 2) res.end('data: c\n\nid\ndata: d\n\n');
      else res.end('data: e\n\n');
    });
    const ids: string[] = [];
    const c = track(connect(url, { lastEventId: 'resume-from', onEvent: (e) => void ids.push(e.id) }));
    for await (const event of c) {
      if (event.data === 'e') break;
    }
    // An id-only block has no data to dispatch, yet it sets the last event ID (§9.2.6).
    expect(ids).toEqual(['resume-from', '42', 'ünï✓', '', '']);
    expect(server!.requests.map((r) => r.lastEventId)).toEqual(['resume-from', 'ünï✓', undefined]);
  });

  it('onOpen may refuse a response: fatal by default, retried when onError says so', async () => {
    const url = await serve((_req, res) => {
      sse(res, { 'x-version': '1' });
      res.end('data: x\n\n');
    });
    class Refused extends Error {}
    const c = track(
      connect(url, {
        onOpen: (r) => {
          if (r.headers.get('x-version') !== '2') throw new Refused();
        },
      }),
    );
    const { events, error } = await settle(c);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(Refused);

    let attempts = 0;
    const d = track(
      connect(url, {
        reconnect: false,
        onOpen: async () => {
          await Promise.resolve();
          if (++attempts < 3) throw new Refused();
        },
        onError: (e) => (e instanceof Refused ? 0 : undefined),
      }),
    );
    expect((await settle(d)).events.map((e) => e.data)).toEqual(['x']);
    expect(attempts).toBe(3);
  });

  it('gives up with the last error after maxAttempts retries in a row (maxAttempts + 1 requests)', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const c = track(connect(url, { reconnect: { maxAttempts: 2, initialDelay: 0, maxDelay: 0 } }));
    const { error } = await settle(c);
    expect((error as HttpError).status).toBe(503);
    expect(server!.requests).toHaveLength(3);
  });

  it('decodes the body as one UTF-8 stream: a character cut between two reads arrives whole', async () => {
    const bytes = new TextEncoder().encode('data: é€😀\n\n');
    for (let cut = 7; cut < bytes.length - 2; cut++) {
      // Each piece is one read of the body: a real socket may cut anywhere, as here.
      const pieces = [bytes.slice(0, cut), bytes.slice(cut)];
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const piece of pieces) controller.enqueue(piece);
          controller.close();
        },
      });
      const fetch = async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      const { events, error } = await settle(
        track(connect('http://test.invalid/', { fetch, reconnect: false })),
      );
      expect([cut, events, error]).toEqual([cut, [{ event: 'message', data: 'é€😀', id: '' }], undefined]);
    }
  });

  it('an error thrown by onEvent or onError ends the connection with it', async () => {
    const url = await serve((_req, res) => {
      sse(res);
      res.end('data: x\n\n');
    });
    const boom = new Error('boom');
    const c = track(
      connect(url, {
        onEvent: () => {
          throw boom;
        },
      }),
    );
    await expect(c.closed).rejects.toBe(boom);
    const d = track(
      connect(url, {
        onError: () => {
          throw boom;
        },
      }),
    );
    await expect(settle(d)).resolves.toEqual({
      events: [{ event: 'message', data: 'x', id: '' }],
      error: boom,
    });
  });
});
