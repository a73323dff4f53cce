/** The hub over node:http; slow consumers cut on every path are in slow-consumers.test.ts. */
import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRequestListener,
  type NodeRequestContext,
  writeResponse,
} from '../../src/adapters/node/index.js';
import { createHub, type Hub, RESUME_HEADER } from '../../src/hub/index.js';
import { createParser, type ServerSentEvent } from '../../src/index.js';
import { listen } from '../helpers/server.js';
import { deferred, nextMacrotask } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serveHub(hub: Hub, wrap?: (res: Response) => void) {
  const server = await listen(
    createRequestListener(async (request: Request, context: NodeRequestContext) => {
      const response = await hub.handler(request, context);
      wrap?.(response);
      return response;
    }),
  );
  cleanups.push(async () => {
    await hub.close({ timeout: 100 });
    await server.close();
  });
  return server;
}

/** A raw HTTP subscriber: collects events until told to stop; knows how the stream ended. */
function subscribe(url: string, headers: Record<string, string> = {}) {
  const events: ServerSentEvent[] = [];
  const retries: number[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters.filter((w) => events.length >= w.n)) w.resolve();
    },
    onRetry: (ms) => retries.push(ms),
  });
  const ended = deferred();
  const response = deferred<IncomingMessage>();
  const req = get(url, { headers, agent: false }, (res) => {
    response.resolve(res);
    res.on('data', (chunk: Buffer) => parser.feed(chunk));
    res.on('end', () => ended.resolve());
    res.on('error', () => ended.resolve());
  });
  req.on('error', () => ended.resolve());
  return {
    events,
    retries,
    response: response.promise,
    ended: ended.promise,
    until(n: number) {
      const d = deferred();
      if (events.length >= n) d.resolve();
      else waiters.push({ n, resolve: d.resolve });
      return d.promise;
    },
    close() {
      req.destroy();
    },
  };
}

describe('hub over node:http', () => {
  it('writes straight to the socket (the body stream is never read), as valid HTTP/1.1 chunks', async () => {
    const hub = createHub({ heartbeat: false });
    let body: ReadableStream | null = null;
    const server = await serveHub(hub, (res) => {
      body = res.body;
    });
    const client = subscribe(`${server.url}/?topic=t`);
    const res = await client.response;
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push(await hub.publish('t', `é${i}\nline two`));
    await client.until(20);
    expect(client.events.map((e) => e.id)).toEqual(ids);
    expect(client.events[3]?.data).toBe('é3\nline two');
    expect((body as ReadableStream | null)?.locked).toBe(false);
    client.close();
  });

  it.each([
    ['compression: flush', (res: { flush?: () => void }) => (res.flush = () => {})],
    [
      "a middleware's own write",
      (res: { write: (...args: unknown[]) => boolean }) => {
        const write = res.write;
        res.write = function (this: unknown, ...args: unknown[]) {
          return write.apply(this, args);
        };
      },
    ],
  ] as const)('falls back to reading the stream when a middleware wraps write (%s)', async (_, wrap) => {
    const hub = createHub({ heartbeat: false });
    let body: ReadableStream | null = null;
    const listener = createRequestListener(async (request, context) => {
      const response = await hub.handler(request, context);
      body = response.body;
      return response;
    });
    const server = await listen((req, res) => {
      wrap(res as never);
      listener(req, res);
    });
    cleanups.push(async () => {
      await hub.close({ timeout: 100 });
      await server.close();
    });
    const client = subscribe(`${server.url}/?topic=t`);
    await client.response;
    const id = await hub.publish('t', 'x');
    await client.until(1);
    expect(client.events[0]?.id).toBe(id);
    expect((body as ReadableStream | null)?.locked).toBe(true);
    client.close();
  });

  it('resumes after a disconnect from Last-Event-ID with nothing lost or repeated', async () => {
    const hub = createHub({ heartbeat: false });
    const server = await serveHub(hub);
    const first = subscribe(`${server.url}/?topic=t`);
    await first.response;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await hub.publish('t', String(i)));
    await first.until(5);
    first.close();
    await first.ended;
    for (let i = 5; i < 10; i++) ids.push(await hub.publish('t', String(i)));
    const second = subscribe(`${server.url}/?topic=t`, { 'last-event-id': first.events[4]?.id as string });
    expect((await second.response).headers[RESUME_HEADER]).toBe('replay');
    for (let i = 10; i < 12; i++) ids.push(await hub.publish('t', String(i)));
    await second.until(7);
    expect([...first.events, ...second.events].map((e) => e.id)).toEqual(ids);
    second.close();
  });

  it('releases a subscriber when its client disconnects, without a request signal too', async () => {
    const hub = createHub({ heartbeat: false });
    const server = await listen(createRequestListener(hub.handler, { requestSignal: false }));
    cleanups.push(async () => {
      await hub.close({ timeout: 100 });
      await server.close();
    });
    const clients = [subscribe(`${server.url}/?topic=a`), subscribe(`${server.url}/?topic=a&topic=b`)];
    await Promise.all(clients.map((c) => c.response));
    expect(hub.metrics()).toMatchObject({ subscribers: 2, topics: 2 });
    for (const c of clients) c.close();
    while (hub.metrics().subscribers > 0) await nextMacrotask();
    expect(hub.metrics()).toMatchObject({ subscribers: 0, topics: 0 });
  });

  it('writeResponse on the direct path settles when the client leaves and when the hub ends the stream', async () => {
    const hub = createHub({ heartbeat: false });
    const settled = new Map<string, Promise<string>>();
    const server = await listen(async (req, res) => {
      const response = await hub.subscribe({ topics: ['t'] });
      settled.set(
        req.url ?? '',
        writeResponse(response, res).then(() => 'settled'),
      );
    });
    cleanups.push(async () => {
      await hub.close({ timeout: 100 });
      await server.close();
    });
    const leaving = subscribe(`${server.url}/leaving`);
    const staying = subscribe(`${server.url}/staying`);
    await Promise.all([leaving.response, staying.response]);
    const id = await hub.publish('t', 'x');
    await Promise.all([leaving.until(1), staying.until(1)]);
    expect(staying.events.map((e) => e.id)).toEqual([id]);
    leaving.close();
    expect(await settled.get('/leaving')).toBe('settled');
    await hub.close();
    expect(await settled.get('/staying')).toBe('settled');
    await staying.ended;
    expect(staying.retries).toHaveLength(1);
  });

  it('limits subscribers per client address (the adapter passes it) with 503 and Retry-After', async () => {
    const hub = createHub({ heartbeat: false, limits: { maxSubscribersPerAddress: 1 } });
    const server = await serveHub(hub);
    const one = subscribe(`${server.url}/?topic=t`);
    expect((await one.response).statusCode).toBe(200);
    const two = subscribe(`${server.url}/?topic=t`);
    const refused = await two.response;
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    one.close();
    two.close();
  });

  it('shuts down gracefully: every client gets its own retry hint and a clean end', async () => {
    const hub = createHub({ heartbeat: false, reconnectHint: { delay: 1000, spread: 9000 } });
    const server = await serveHub(hub);
    const clients = Array.from({ length: 8 }, () => subscribe(`${server.url}/?topic=t`));
    await Promise.all(clients.map((c) => c.response));
    const id = await hub.publish('t', 'bye');
    await hub.close();
    await Promise.all(clients.map((c) => c.ended));
    for (const c of clients) {
      expect(c.events.map((e) => e.id)).toEqual([id]);
      expect(c.retries).toHaveLength(1);
      expect(c.retries[0]).toBeGreaterThanOrEqual(1000);
      expect(c.retries[0]).toBeLessThanOrEqual(10_000);
    }
    // Jitter: eight clients do not all come back at the same moment.
    expect(new Set(clients.map((c) => c.retries[0])).size).toBeGreaterThan(1);
  });
});
