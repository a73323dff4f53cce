import { afterEach, describe, expect, it, vi } from 'vitest';
import { isHttpError } from '../../src/client/errors.js';
import { EventSource } from '../../src/client/event-source.js';
import { sse, startServer, type TestServer } from './helpers.js';

const servers: TestServer[] = [];
const sources: EventSource[] = [];
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  for (const s of servers.splice(0)) await s.close();
  vi.unstubAllGlobals();
});

async function serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const server = await startServer(handler);
  servers.push(server);
  return server;
}

function open(url: string, init?: ConstructorParameters<typeof EventSource>[1]): EventSource {
  const source = new EventSource(url, init);
  sources.push(source);
  return source;
}

type Record = [type: string, ...rest: unknown[]];

/** Records what a page would see: events in order, with readyState at the time. */
function record(source: EventSource, types: string[] = []): Record[] {
  const log: Record[] = [];
  source.onopen = () => void log.push(['open', source.readyState]);
  source.onerror = () => void log.push(['error', source.readyState]);
  source.onmessage = (e) => void log.push(['message', e.data, e.lastEventId]);
  for (const type of types) {
    source.addEventListener(type, (e) => void log.push([type, e.data, e.lastEventId]));
  }
  return log;
}

describe('EventSource: the interface', () => {
  it('has the standard constants, url, withCredentials and readyState', async () => {
    const server = await serve((_req, res) => sse(res));
    const source = open(`${server.url}/a/../feed?x=1`);
    expect([EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED]).toEqual([0, 1, 2]);
    expect([source.CONNECTING, source.OPEN, source.CLOSED]).toEqual([0, 1, 2]);
    expect(source.url).toBe(`${server.url}/feed?x=1`);
    expect(source.withCredentials).toBe(false);
    expect(source.readyState).toBe(0);
    expect(source).toBeInstanceOf(EventTarget);
    await vi.waitFor(() => expect(source.readyState).toBe(1));
    source.close();
    expect(source.readyState).toBe(2);
  });

  it('has the WebIDL shape: read-only constants and accessors on the prototype, [object EventSource]', () => {
    const source = open('http://127.0.0.1:9/feed', { fetch: () => new Promise(() => {}) });
    for (const target of [EventSource, EventSource.prototype]) {
      for (const [name, value] of [
        ['CONNECTING', 0],
        ['OPEN', 1],
        ['CLOSED', 2],
      ] as const) {
        expect(Object.getOwnPropertyDescriptor(target, name)).toEqual({
          value,
          writable: false,
          enumerable: true,
          configurable: false,
        });
      }
    }
    for (const name of ['url', 'withCredentials', 'readyState']) {
      const descriptor = Object.getOwnPropertyDescriptor(EventSource.prototype, name)!;
      expect([typeof descriptor.get, descriptor.set, descriptor.enumerable]).toEqual([
        'function',
        undefined,
        true,
      ]);
    }
    expect(Object.getOwnPropertyNames(source)).toEqual([]);
    expect(() => {
      (source as { url: string }).url = 'x';
    }).toThrow(TypeError);
    expect(Object.prototype.toString.call(source)).toBe('[object EventSource]');
  });

  it('throws a SyntaxError DOMException for a URL it cannot parse', () => {
    expect(() => new EventSource('http://[::1')).toThrow(DOMException);
    try {
      new EventSource('no base here');
    } catch (error) {
      expect((error as DOMException).name).toBe('SyntaxError');
    }
    expect.assertions(2);
  });

  it('resolves a relative URL against the document base, when there is one', () => {
    vi.stubGlobal('document', { baseURI: 'http://127.0.0.1:1/app/page' });
    const calls: string[] = [];
    const source = open('feed', {
      fetch: async (url) => {
        calls.push(url);
        return new Response(null, { status: 204 });
      },
    });
    expect(source.url).toBe('http://127.0.0.1:1/app/feed');
    expect(calls).toEqual(['http://127.0.0.1:1/app/feed']);
  });

  it('maps withCredentials to credentials: include, and same-origin otherwise', async () => {
    const seen: (RequestCredentials | undefined)[] = [];
    const fetch = async (_url: string, init: RequestInit) => {
      seen.push(init.credentials);
      return new Response(null, { status: 204 });
    };
    const a = open('http://127.0.0.1:1/', { withCredentials: true, fetch });
    const b = open('http://127.0.0.1:1/', { fetch });
    expect(a.withCredentials).toBe(true);
    expect(b.withCredentials).toBe(false);
    expect(seen).toEqual(['include', 'same-origin']);
  });

  it('importing it leaves the global EventSource alone', async () => {
    const before = (globalThis as { EventSource?: unknown }).EventSource;
    await import('../../src/client/index.js');
    expect((globalThis as { EventSource?: unknown }).EventSource).toBe(before);
    expect(before).not.toBe(EventSource);
  });

  it('event handler attributes: one listener each, replaced in place, null to disable', async () => {
    const server = await serve((_req, res) => {
      sse(res);
      res.write('data: 1\n\ndata: 2\n\n');
    });
    const source = open(server.url);
    const log: string[] = [];
    source.addEventListener('message', () => void log.push('listener before'));
    source.onmessage = () => void log.push('first handler');
    source.addEventListener('message', () => void log.push('listener after'));
    source.onmessage = function (this: EventSource, e) {
      expect(this).toBe(source);
      log.push(`handler ${e.data}`);
      if (e.data === '2') source.onmessage = null;
    };
    expect(typeof source.onmessage).toBe('function');
    await vi.waitFor(() => expect(log).toHaveLength(6));
    expect(log).toEqual([
      'listener before',
      'handler 1',
      'listener after',
      'listener before',
      'handler 2',
      'listener after',
    ]);
    expect(source.onmessage).toBeNull();
    expect(source.onopen).toBeNull();
    // A value that is not a function reads back as null, as a non-object does in WebIDL.
    source.onerror = 'not a function' as never;
    expect(source.onerror).toBeNull();
  });
});

describe('EventSource: the processing model', () => {
  it('delivers messages and named events with data, lastEventId and origin', async () => {
    const server = await serve((_req, res) => {
      sse(res);
      res.write('data: plain\n\nevent: price\ndata: 42\nid: 7\n\ndata: after\n\n');
    });
    const source = open(server.url);
    const origins: string[] = [];
    source.addEventListener('message', (e) => void origins.push(e.origin));
    const log = record(source, ['price']);
    await vi.waitFor(() => expect(log).toHaveLength(4));
    expect(log).toEqual([
      ['open', 1],
      ['message', 'plain', ''],
      ['price', '42', '7'],
      ['message', 'after', '7'],
    ]);
    expect(origins).toEqual([server.url, server.url]);
  });

  it('origin is that of the final URL after a redirect', async () => {
    const target = await serve((_req, res) => {
      sse(res);
      res.write('data: moved\n\n');
    });
    const start = await serve((_req, res) => {
      res.writeHead(307, { location: `${target.url}/stream` });
      res.end();
    });
    const source = open(start.url);
    const event = await new Promise<MessageEvent>((resolve) => {
      source.onmessage = resolve;
    });
    expect(event.origin).toBe(target.url);
    expect(source.url).toBe(`${start.url}/`);
  });

  it('reconnects after the stream ends: error while CONNECTING, then open, with Last-Event-ID', async () => {
    const server = await serve((_req, res, request) => {
      sse(res);
      if (request.lastEventId === undefined) res.end('retry: 0\nid: 1\ndata: a\n\n');
      else res.write(`data: b after ${request.lastEventId}\n\n`);
    });
    const source = open(server.url);
    const log = record(source);
    await vi.waitFor(() => expect(log).toHaveLength(5));
    expect(log).toEqual([
      ['open', 1],
      ['message', 'a', '1'],
      ['error', 0],
      ['open', 1],
      ['message', 'b after 1', '1'],
    ]);
  });

  it.each([
    ['204', 204, 'text/event-stream'],
    ['500', 500, 'text/event-stream'],
    ['404', 404, 'text/event-stream'],
    ['a wrong content type', 200, 'text/plain'],
  ])('fails the connection for good on %s: error while CLOSED, no retry', async (_label, status, type) => {
    const server = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': type });
      res.end(status === 204 ? undefined : 'data: x\n\n');
    });
    const source = open(server.url);
    const log = record(source);
    const errors: unknown[] = [];
    source.addEventListener('error', (e) => void errors.push((e as Event & { error?: unknown }).error));
    await vi.waitFor(() => expect(log).toEqual([['error', 2]]));
    expect(server.requests).toHaveLength(1);
    if (status === 500) expect(isHttpError(errors[0])).toBe(true);
    source.close();
    expect(log).toEqual([['error', 2]]);
  });

  it('close() fires nothing, and inside a handler stops the rest of the chunk', async () => {
    const server = await serve((_req, res) => {
      sse(res);
      res.write('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    });
    const source = open(server.url);
    const log = record(source);
    source.addEventListener('message', (e) => {
      if (e.data === '2') source.close();
    });
    await vi.waitFor(() => expect(log).toHaveLength(3));
    await expect.poll(() => server.requests.length).toBe(1);
    expect(log).toEqual([
      ['open', 1],
      ['message', '1', ''],
      ['message', '2', ''],
    ]);
    expect(source.readyState).toBe(2);
  });

  it('after the stream ends, asks the scheduler for the retry: time exactly, then for 3000 ms by default', async () => {
    const server = await serve((_req, res, request) => {
      sse(res);
      if (request.lastEventId === undefined) res.end('retry: 040\nid: 1\ndata: a\n\n');
      else res.end('data: b\n\n');
    });
    // The delays the client asks of setTimeout (undici, under fetch, sets timers of its own);
    // jitter would draw from Math.random, here at its highest.
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const asked: number[] = [];
    const original = globalThis.setTimeout;
    vi.stubGlobal('setTimeout', ((handler: () => void, ms?: number) => {
      if (new Error().stack?.includes('/src/client/connect.ts')) asked.push(ms ?? 0);
      return original(handler, ms);
    }) as typeof setTimeout);
    const source = open(server.url);
    const log = record(source);
    await vi.waitFor(() => expect(server.requests.length).toBeGreaterThanOrEqual(3));
    source.close();
    expect(asked.slice(0, 2)).toEqual([40, 40]);
    expect(log.slice(0, 3)).toEqual([
      ['open', 1],
      ['message', 'a', '1'],
      ['error', 0],
    ]);
    vi.restoreAllMocks();
    // Without a retry: field: Chromium's reconnection time, 3000 ms, exactly.
    const other = await serve((_req, res) => {
      sse(res);
      res.end('data: a\n\n');
    });
    asked.length = 0;
    const second = open(other.url);
    await vi.waitFor(() => expect(asked).toContain(3000));
    second.close();
    expect(asked).toEqual([3000]);
  });

  it('a URL whose scheme is not http(s), data or blob fails the connection: error while CLOSED, fetch never called', async () => {
    for (const url of ['ftp://127.0.0.1/x', 'about:blank', 'mailto:a@example.com', 'javascript:void 0']) {
      const fetch = vi.fn();
      const source = open(url, { fetch });
      const log = record(source);
      const errors: unknown[] = [];
      source.addEventListener('error', (e) => void errors.push((e as Event & { error?: unknown }).error));
      expect(source.readyState).toBe(0);
      await vi.waitFor(() => expect(log).toEqual([['error', 2]]));
      expect(fetch).not.toHaveBeenCalled();
      expect(String(errors[0])).toBe(`TypeError: ${url}: not http(s)`);
    }
  });

  it('close() while reconnecting cancels the reconnection', async () => {
    const server = await serve((_req, res) => {
      sse(res);
      res.end('retry: 60000\ndata: once\n\n');
    });
    const source = open(server.url);
    const errored = new Promise<number>((resolve) => {
      source.onerror = () => resolve(source.readyState);
    });
    expect(await errored).toBe(0);
    source.close();
    expect(source.readyState).toBe(2);
    expect(server.requests).toHaveLength(1);
  });
});

describe('EventSource: the second-argument extension', () => {
  it('sends method, headers and body, again on reconnect', async () => {
    const server = await serve((_req, res, request) => {
      sse(res);
      if (request.lastEventId === undefined) res.end('retry: 0\nid: q1\ndata: first\n\n');
      else res.write('data: second\n\n');
    });
    const source = open(server.url, {
      method: 'POST',
      headers: { authorization: 'Bearer abc', 'content-type': 'application/json' },
      body: '{"q":1}',
    });
    const log = record(source);
    await vi.waitFor(() => expect(log.filter((r) => r[0] === 'message')).toHaveLength(2));
    expect(server.requests.map((r) => [r.method, r.headers.authorization, r.body, r.lastEventId])).toEqual([
      ['POST', 'Bearer abc', '{"q":1}', undefined],
      ['POST', 'Bearer abc', '{"q":1}', 'q1'],
    ]);
  });

  it('headers may be a function, called on each attempt', async () => {
    const server = await serve((_req, res, request) => {
      sse(res);
      if (request.lastEventId === undefined) res.end('retry: 0\nid: q1\ndata: first\n\n');
      else res.write('data: second\n\n');
    });
    let calls = 0;
    const source = open(server.url, { headers: () => ({ authorization: `Bearer ${++calls}` }) });
    const log = record(source);
    await vi.waitFor(() => expect(log.filter((r) => r[0] === 'message')).toHaveLength(2));
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer 1', 'Bearer 2']);
  });

  it('uses the given fetch', async () => {
    const calls: RequestInit[] = [];
    const source = open('http://example.test/feed', {
      fetch: async (_url, init) => {
        calls.push(init);
        return new Response('data: from a custom fetch\n\n', {
          headers: { 'content-type': 'text/event-stream' },
        });
      },
    });
    const event = await new Promise<MessageEvent>((resolve) => {
      source.onmessage = resolve;
    });
    expect(event.data).toBe('from a custom fetch');
    expect(event.origin).toBe('http://example.test');
    expect(new Headers(calls[0]!.headers).get('accept')).toBe('text/event-stream');
    source.close();
  });

  it('a stream body is refused at construction', () => {
    expect(
      () => new EventSource('http://127.0.0.1:1/', { method: 'POST', body: new ReadableStream() as never }),
    ).toThrow(expect.objectContaining({ name: 'BodyError' }));
  });
});
