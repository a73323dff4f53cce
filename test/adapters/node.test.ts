import type { IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createRequestListener,
  isForbiddenMethod,
  sendEventStream,
  toRequest,
  writeResponse,
} from '../../src/adapters/node/index.js';
import { DIRECT_WRITE, type DirectTarget, type DirectWriteHook } from '../../src/server/direct-write.js';
import {
  createEventStream,
  type EventStream,
  SSE_HEADERS,
  type StreamClosedError,
  streamEvents,
} from '../../src/server/index.js';
import { BodyReader, turn } from '../helpers/body.js';
import { deferred, listen } from '../helpers/server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

async function serve(
  handler: (request: Request) => Response | Promise<Response>,
  onError?: (e: unknown) => void,
) {
  const server = await listen(createRequestListener(handler, onError ? { onError } : {}));
  cleanups.push(server.close);
  return server;
}

/** A raw TCP client of `url` (closed after the test): what it writes, and all it has received. */
function rawClient(url: string) {
  const { port, hostname } = new URL(url);
  const socket = connect(Number(port), hostname);
  cleanups.push(() => {
    socket.destroy();
  });
  let received = '';
  socket.on('data', (data) => {
    received += data.toString('latin1');
  });
  return { socket, write: (text: string) => socket.write(text), received: () => received };
}

/**
 * Streams events `one` and `two` through writeResponse, with `prepare` run on the response first
 * (to wrap or watch its writes), and checks the client got them.
 */
async function streamOneTwo(prepare: (res: import('node:http').ServerResponse) => void): Promise<void> {
  const server = await listen((_req, res) => {
    prepare(res);
    void writeResponse(streamEvents(['one', 'two'], { heartbeat: false }), res);
  });
  cleanups.push(server.close);
  const body = new BodyReader((await fetch(server.url)).body);
  await body.rest();
  expect(body.events.map((e) => e.data)).toEqual(['one', 'two']);
}

describe('writeResponse over node:http', () => {
  it('sends the SSE headers, status, custom headers and several cookies', async () => {
    const { url } = await serve(() => {
      const stream = createEventStream({
        heartbeat: false,
        status: 202,
        headers: [
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
          ['x-extra', 'yes'],
        ],
      });
      stream.close();
      return stream.response;
    });
    const response = await fetch(url);
    expect(response.status).toBe(202);
    for (const [name, value] of Object.entries(SSE_HEADERS)) expect(response.headers.get(name)).toBe(value);
    expect(response.headers.get('x-extra')).toBe('yes');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await response.text()).toBe(':\n\n');
  });

  it('headers and first bytes reach the client before any event exists', async () => {
    const streamOpen = deferred<EventStream>();
    const { url } = await serve(() => {
      const stream = createEventStream({ heartbeat: false });
      streamOpen.resolve(stream);
      return stream.response;
    });
    const response = await fetch(url);
    const body = new BodyReader(response.body);
    expect(await body.next()).toBe(':\n\n');
    const stream = await streamOpen.promise;
    await stream.send('first');
    await body.until(() => body.events.length === 1);
    expect(body.events[0]!.data).toBe('first');
    stream.close();
    await body.rest();
  });

  it('events arrive one by one while the stream is still open', async () => {
    const step = deferred();
    const { url } = await serve(() =>
      streamEvents(
        async function* () {
          yield 'one';
          await step.promise;
          yield 'two';
        },
        { heartbeat: false },
      ),
    );
    const body = new BodyReader((await fetch(url)).body);
    await body.until(() => body.events.length === 1);
    expect(body.done).toBe(false);
    step.resolve();
    await body.rest();
    expect(body.events.map((e) => e.data)).toEqual(['one', 'two']);
  });

  it('writes each chunk to the socket as one framed buffer, not through res.write, and keeps the framing exact', async () => {
    let resWrites = 0;
    const socketWrites: string[] = [];
    await streamOneTwo((res) => {
      const write = res.write;
      // Counted on the prototype: an own `write` on the response (a middleware's) turns the
      // socket path off.
      const proto = Object.getPrototypeOf(res) as { write: typeof write };
      const own = Object.hasOwn(proto, 'write');
      proto.write = function (this: typeof res, ...args: unknown[]) {
        if (this === res) resWrites++;
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof write;
      cleanups.push(() => {
        if (own) proto.write = write;
        else delete (proto as { write?: unknown }).write;
      });
      const socketWrite = res.socket?.write;
      if (res.socket && socketWrite) {
        res.socket.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
          if (chunk instanceof Uint8Array) socketWrites.push(Buffer.from(chunk).toString('latin1'));
          return (socketWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
        } as typeof socketWrite;
      }
    });
    expect(resWrites).toBe(0);
    // The opening comment, then the events (batched or not): each a whole HTTP/1.1 chunk.
    const chunks = socketWrites.filter((written) => !written.startsWith('HTTP/'));
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    for (const written of chunks) {
      const match = /^([0-9a-f]+)\r\n([\s\S]*)\r\n$/.exec(written);
      expect(match).not.toBeNull();
      expect(Number.parseInt(match?.[1] ?? '', 16)).toBe(Buffer.byteLength(match?.[2] ?? '', 'latin1'));
    }
  });

  it('two streams in a row on one kept-alive connection, and two pipelined requests, each arrive whole', async () => {
    let n = 0;
    const server = await listen((_req, res) => {
      const which = ++n;
      void writeResponse(streamEvents([`a${which}`, `b${which}`], { heartbeat: false }), res);
    });
    cleanups.push(server.close);
    const client = rawClient(server.url);
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    // Each response ends with the last chunk, `0` and a blank line.
    const ends = () => client.received().split('\r\n0\r\n\r\n').length - 1;
    client.write(request);
    await vi.waitFor(() => expect(ends()).toBe(1));
    client.write(request + request);
    await vi.waitFor(() => expect(ends()).toBe(3));
    const bodies = client
      .received()
      .split(/HTTP\/1\.1 200 OK\r\n/)
      .slice(1)
      .map((response) => response.slice(response.indexOf('\r\n\r\n') + 4));
    expect(bodies).toHaveLength(3);
    bodies.forEach((chunked, i) => {
      // Unframe: size line, bytes, CRLF, until the last chunk.
      let text = '';
      for (let at = 0; ; ) {
        const eol = chunked.indexOf('\r\n', at);
        const size = Number.parseInt(chunked.slice(at, eol), 16);
        if (size === 0) break;
        text += chunked.slice(eol + 2, eol + 2 + size);
        at = eol + 2 + size + 2;
      }
      expect(text).toBe(`:\n\ndata: a${i + 1}\n\ndata: b${i + 1}\n\n`);
    });
  });

  it("a write wrapped on the response (a middleware's) sees every chunk; a HEAD gets no body", async () => {
    let wrapped = 0;
    await streamOneTwo((res) => {
      const write = res.write;
      res.write = function (this: typeof res, ...args: unknown[]) {
        wrapped++;
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof write;
    });
    expect(wrapped).toBeGreaterThanOrEqual(2);

    const head = await listen((_req, res) => {
      void writeResponse(streamEvents(['one'], { heartbeat: false }), res);
    });
    cleanups.push(head.close);
    const client = rawClient(head.url);
    client.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(client.received()).toMatch(/\r\n\r\n$/));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const received = client.received();
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe('');
  });

  it('a client disconnect aborts the signal handed to a source stuck in upstream work', async () => {
    const aborted = deferred<unknown>();
    const { url } = await serve((request) =>
      streamEvents(
        async function* (signal) {
          signal.addEventListener('abort', () => aborted.resolve(signal.reason));
          yield 'hello';
          // Upstream work that only the signal can stop: return() would wait for the next yield.
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
        },
        { heartbeat: false, signal: request.signal },
      ),
    );
    const client = new AbortController();
    const body = new BodyReader((await fetch(url, { signal: client.signal })).body);
    await body.until(() => body.events.length === 1);
    client.abort();
    expect(((await aborted.promise) as StreamClosedError).type).toBe('client-gone');
  });

  it('a disconnect reaches a producer that is idle, not only at its next send', async () => {
    const aborted = deferred<StreamClosedError>();
    const { url } = await serve(() => {
      const stream = createEventStream({ heartbeat: false });
      stream.signal.addEventListener('abort', () =>
        aborted.resolve(stream.signal.reason as StreamClosedError),
      );
      return stream.response;
    });
    const client = new AbortController();
    const body = new BodyReader((await fetch(url, { signal: client.signal })).body);
    await body.next();
    client.abort();
    expect((await aborted.promise).type).toBe('client-gone');
  });

  it('a generator suspended at yield gets return() on disconnect', async () => {
    const cleanedUp = deferred();
    const { url } = await serve(() =>
      streamEvents(
        async function* () {
          try {
            for (let i = 0; ; i++) {
              yield String(i);
              await turn();
            }
          } finally {
            cleanedUp.resolve();
          }
        },
        { heartbeat: false },
      ),
    );
    const client = new AbortController();
    const body = new BodyReader((await fetch(url, { signal: client.signal })).body);
    await body.until(() => body.events.length >= 5);
    client.abort();
    await cleanedUp.promise;
  });

  it('a client that never reads: an awaiting producer stalls with bounded memory, and is released on disconnect', async () => {
    const stalled = deferred<{ stream: EventStream; buffered: number; socketQueued: number }>();
    const finished = deferred<{ sends: number; lastResult: boolean }>();
    const event = { data: 'x'.repeat(1000) };
    const { url } = await serve(() => {
      const stream = createEventStream({ heartbeat: false, highWaterMark: 16 * 1024 });
      void (async () => {
        let sends = 0;
        let lastResult = true;
        // Bounded: 100 MB would be needed to exceed it; loopback buffers stall us long before.
        while (sends < 100_000 && lastResult) {
          const result = stream.send(event);
          sends++;
          let settled = false;
          void result.then(() => {
            settled = true;
          });
          await turn();
          await turn();
          if (!settled) stalled.resolve({ stream, buffered: stream.bufferedAmount, socketQueued: 0 });
          lastResult = await result;
        }
        finished.resolve({ sends, lastResult });
      })();
      return stream.response;
    });
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.pause(); // never read
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { stream, buffered } = await stalled.promise;
    expect(buffered).toBeLessThanOrEqual(16 * 1024 + 1024);
    socket.destroy();
    const { sends, lastResult } = await finished.promise;
    expect(lastResult).toBe(false);
    expect(sends).toBeLessThan(100_000);
    expect((stream.signal.reason as StreamClosedError).type).toBe('client-gone');
  });

  it('a client that never reads and a producer that never awaits: the overflow policy closes the stream', async () => {
    const maxQueuedBytes = 256 * 1024;
    const result = deferred<{ reason: StreamClosedError; maxBuffered: number; sends: number }>();
    const onError = vi.fn();
    const { url } = await serve(() => {
      const stream = createEventStream({ heartbeat: false, maxQueuedBytes });
      void (async () => {
        let maxBuffered = 0;
        let sends = 0;
        // Fan-out style: fire and forget, one batch per macrotask, bounded in count.
        for (let round = 0; round < 20_000 && !stream.closed; round++) {
          for (let i = 0; i < 10; i++) {
            void stream.send({ id: String(sends++), data: 'y'.repeat(500) });
            maxBuffered = Math.max(maxBuffered, stream.bufferedAmount);
          }
          await turn();
        }
        result.resolve({ reason: stream.signal.reason as StreamClosedError, maxBuffered, sends });
      })();
      return stream.response;
    }, onError);
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.pause();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { reason, maxBuffered, sends } = await result.promise;
    expect(reason.type).toBe('overflow');
    expect(maxBuffered).toBeLessThanOrEqual(maxQueuedBytes);
    expect(sends).toBeLessThan(200_000);
    // The server ended the connection abruptly (no terminating chunk): the client sees it close.
    const closed = deferred<string>();
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => closed.resolve(received));
    socket.on('error', () => {});
    socket.resume();
    const text = await closed.promise;
    expect(text.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(text.endsWith('\r\n0\r\n\r\n')).toBe(false);
    // The stream's own policy, not a failure: nothing reaches onError.
    expect(onError).not.toHaveBeenCalled();
  });

  it("a client that stops reading, then catches up, gets everything: the adapter waits for the socket's 'drain' and resumes", async () => {
    const stalled = deferred();
    const finished = deferred<number>();
    const event = { data: 'x'.repeat(1000) };
    const { url } = await serve(() => {
      const stream = createEventStream({ heartbeat: false, highWaterMark: 16 * 1024 });
      void (async () => {
        let sends = 0;
        let extra = -1;
        // Until the socket is full (bounded: 100 MB would be needed), then 100 events more.
        while (sends < 100_000 && extra !== 0) {
          const result = stream.send(event);
          sends++;
          if (extra > 0) extra--;
          let settled = false;
          void result.then(() => {
            settled = true;
          });
          await turn();
          if (!settled && extra < 0) {
            extra = 100;
            stalled.resolve();
          }
          if (!(await result)) break;
        }
        stream.close();
        finished.resolve(sends);
      })();
      return stream.response;
    });
    const { socket, received } = rawClient(url);
    socket.pause();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await stalled.promise;
    socket.resume();
    // Bounded: if the adapter never resumes, the end never comes.
    const sends = await Promise.race([
      finished.promise,
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10_000)),
    ]);
    expect(sends).toBeGreaterThan(100);
    await vi.waitFor(() => expect(received().endsWith('\r\n0\r\n\r\n')).toBe(true), { timeout: 10_000 });
    expect(received().split('data: ').length - 1).toBe(sends);
  });

  it("a body that fails while the adapter waits for 'drain' cuts the response, though the client never reads", async () => {
    const stuck = deferred<{ fail: () => void; res: import('node:http').ServerResponse }>();
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    let chunks = 0;
    const server = await listen((_req, res) => {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
        },
        // Bounded: the kernel takes a few MiB of loopback traffic before node queues anything.
        pull(c) {
          if (chunks++ < 2000) c.enqueue(chunk);
          // The adapter asks for more only while the socket has room: once it stops, it waits
          // (for the socket's 'drain': it writes the chunks to it, framed, not through res).
          setImmediate(() => {
            if (res.writableNeedDrain || res.socket?.writableNeedDrain)
              stuck.resolve({ fail: () => controller.error(new Error('cut')), res });
          });
        },
      });
      void writeResponse(new Response(body), res, { onError: () => {} });
    });
    cleanups.push(server.close);
    const { port, hostname } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    cleanups.push(() => {
      socket.destroy();
    });
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause(); // and never read again
    const { fail, res } = await stuck.promise;
    fail();
    const closed = deferred();
    if (res.destroyed) closed.resolve();
    else res.once('close', () => closed.resolve());
    // Bounded: without the fix the adapter waits for a 'drain' that never comes.
    const timer = setTimeout(() => closed.resolve(), 3000);
    await closed.promise;
    clearTimeout(timer);
    expect(res.destroyed).toBe(true);
  });

  it('a response already destroyed cancels the body at once', async () => {
    const aborted = deferred<StreamClosedError>();
    const server = await listen((_req, res) => {
      res.destroy();
      const stream = createEventStream({ heartbeat: false });
      stream.signal.addEventListener('abort', () =>
        aborted.resolve(stream.signal.reason as StreamClosedError),
      );
      void writeResponse(stream.response, res);
    });
    cleanups.push(server.close);
    await expect(fetch(server.url)).rejects.toThrow();
    expect((await aborted.promise).type).toBe('client-gone');
  });

  it('calls res.flush() after each chunk when a compression middleware provides one', async () => {
    const flushes = vi.fn();
    const done = deferred();
    const server = await listen((_req, res) => {
      (res as unknown as { flush: () => void }).flush = flushes;
      void writeResponse(streamEvents(['a', 'b'], { heartbeat: false }), res).then(done.resolve);
    });
    cleanups.push(server.close);
    const body = new BodyReader((await fetch(server.url)).body);
    await body.rest();
    await done.promise;
    expect(body.events).toHaveLength(2);
    expect(flushes).toHaveBeenCalled();
  });

  it('a body that fails unexpectedly is reported and the response is cut, not ended cleanly', async () => {
    const onError = vi.fn();
    const failure = new Error('disk on fire');
    const { url } = await serve(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('data: partial\n\n'));
              setImmediate(() => controller.error(failure));
            },
          }),
        ),
      onError,
    );
    const response = await fetch(url);
    await expect(response.text()).rejects.toThrow();
    expect(onError).toHaveBeenCalledWith(failure);
  });

  it('a handler that throws answers a bare 500 and reports the error', async () => {
    const onError = vi.fn();
    const { url } = await serve(() => {
      throw new Error('internal detail');
    }, onError);
    const response = await fetch(url);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('');
    expect(onError).toHaveBeenCalledTimes(1);
  });

  it("a custom reason phrase reaches an HTTP/1.1 client's status line", async () => {
    const { url } = await serve(() => new Response('ok', { status: 299, statusText: 'Fine Thanks' }));
    const client = rawClient(url);
    client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await vi.waitFor(() => expect(client.received()).toContain('\r\n\r\n'));
    expect(client.received()).toMatch(/^HTTP\/1\.1 299 Fine Thanks\r\n/);
  });

  it('without onError, an unexpected body failure is reported on console.error', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const failure = new Error('disk on fire');
    const done = deferred();
    const server = await listen((_req, res) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          setImmediate(() => controller.error(failure));
        },
      });
      void writeResponse(new Response(body), res).then(done.resolve);
    });
    cleanups.push(server.close);
    const response = await fetch(server.url);
    await expect(response.text()).rejects.toThrow();
    await done.promise;
    expect(logged).toHaveBeenCalledWith('ssekit/node: the response failed', failure);
  });

  it("an 'error' on the response cancels the body, like a disconnect", async () => {
    const opened = deferred<EventStream>();
    const server = await listen((_req, res) => {
      const stream = createEventStream({ heartbeat: false });
      void writeResponse(stream.response, res);
      opened.resolve(stream);
      setImmediate(() => res.emit('error', new Error('write EPIPE')));
    });
    cleanups.push(server.close);
    const response = await fetch(server.url);
    const stream = await opened.promise;
    await vi.waitFor(() => expect(stream.signal.aborted).toBe(true));
    expect((stream.signal.reason as StreamClosedError).type).toBe('client-gone');
    await response.body?.cancel();
  });

  it('sendEventStream opens a stream straight on the node response', async () => {
    const server = await listen((_req, res) => {
      const stream = sendEventStream(res, { heartbeat: false, retry: 1000 });
      void stream.send({ event: 'hello', data: 'node' }).then(() => stream.close());
    });
    cleanups.push(server.close);
    const response = await fetch(server.url);
    expect(response.headers.get('content-type')).toBe(SSE_HEADERS['content-type']);
    expect(await response.text()).toBe('retry: 1000\n\nevent: hello\ndata: node\n\n');
  });
});

describe('writeResponse with a body that offers direct writes', () => {
  /** A body that writes `text` straight to the transport (framed as the target says), then ends. */
  function directBody(text: string) {
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    let attached = 0;
    const hook: DirectWriteHook = (target) => {
      attached++;
      target.write(target.frame ? target.frame(bytes) : bytes);
      setImmediate(() => target.end());
      return { cancel() {} };
    };
    (body as unknown as Record<symbol, DirectWriteHook>)[DIRECT_WRITE] = hook;
    return { body, attached: () => attached };
  }

  async function serveDirect() {
    const bodies: ReturnType<typeof directBody>[] = [];
    const server = await listen((_req, res) => {
      const body = directBody('data: x\n\n');
      bodies.push(body);
      void writeResponse(new Response(body.body, { headers: SSE_HEADERS }), res);
    });
    cleanups.push(server.close);
    return { url: server.url, bodies };
  }

  const bodyOf = (response: string) => response.slice(response.indexOf('\r\n\r\n') + 4);

  it('a HEAD gets no body, and the connection serves the next request whole', async () => {
    const { url, bodies } = await serveDirect();
    const client = rawClient(url);
    client.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(client.received()).toMatch(/\r\n\r\n$/));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(bodyOf(client.received())).toBe('');
    const before = client.received().length;
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(client.received().endsWith('\r\n0\r\n\r\n')).toBe(true));
    expect(bodyOf(client.received().slice(before))).toBe('9\r\ndata: x\n\n\r\n0\r\n\r\n');
    // The GET took the direct path; the HEAD did not.
    expect(bodies.map((b) => b.attached())).toEqual([0, 1]);
  });

  it('abort() after a clean end leaves the connection alone: it may be serving the next request', async () => {
    const targets: DirectTarget[] = [];
    const server = await listen((_req, res) => {
      const body = new ReadableStream<Uint8Array>();
      (body as unknown as Record<symbol, DirectWriteHook>)[DIRECT_WRITE] = (target) => {
        targets.push(target);
        const bytes = new TextEncoder().encode(`data: ${targets.length}\n\n`);
        target.write(target.frame ? target.frame(bytes) : bytes);
        return { cancel() {} };
      };
      void writeResponse(new Response(body, { headers: SSE_HEADERS }), res);
    });
    cleanups.push(server.close);
    const client = rawClient(server.url);
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(targets).toHaveLength(1));
    targets[0]?.end();
    await vi.waitFor(() => expect(client.received().endsWith('\r\n0\r\n\r\n')).toBe(true));
    const before = client.received().length;
    // The same connection, kept alive, now carries a second stream.
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(client.received().slice(before)).toContain('data: 2'));
    // A late abort of the first response (a slow-consumer timer, say) must not cut the second.
    targets[0]?.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.socket.destroyed).toBe(false);
    targets[1]?.end();
    await vi.waitFor(() => expect(client.received().endsWith('\r\n0\r\n\r\n')).toBe(true));
    expect(bodyOf(client.received().slice(before))).toBe('9\r\ndata: 2\n\n\r\n0\r\n\r\n');
  });

  it('abort() before the end cuts the connection (no final chunk), settles writeResponse, and does not cancel the body that aborted', async () => {
    const done = deferred();
    let cancels = 0;
    const server = await listen((_req, res) => {
      const body = new ReadableStream<Uint8Array>();
      (body as unknown as Record<symbol, DirectWriteHook>)[DIRECT_WRITE] = (target) => {
        const bytes = new TextEncoder().encode('data: x\n\n');
        target.write(target.frame ? target.frame(bytes) : bytes);
        setImmediate(() => target.abort());
        return { cancel: () => cancels++ };
      };
      void writeResponse(new Response(body, { headers: SSE_HEADERS }), res).then(done.resolve);
    });
    cleanups.push(server.close);
    const { socket, received } = rawClient(server.url);
    const closed = deferred();
    socket.on('close', () => closed.resolve());
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed.promise;
    await done.promise;
    expect(bodyOf(received())).toBe('9\r\ndata: x\n\n\r\n');
    // The body itself aborted: it is not told the peer went away.
    expect(cancels).toBe(0);
  });

  it('writeResponse settles for a body that ends while it attaches (its stream was already closed)', async () => {
    const done = deferred();
    const server = await listen((_req, res) => {
      const body = new ReadableStream<Uint8Array>();
      (body as unknown as Record<symbol, DirectWriteHook>)[DIRECT_WRITE] = (target) => {
        const bytes = new TextEncoder().encode('data: last\n\n');
        target.write(target.frame ? target.frame(bytes) : bytes);
        target.end();
        return { cancel() {} };
      };
      void writeResponse(new Response(body, { headers: SSE_HEADERS }), res).then(done.resolve);
    });
    cleanups.push(server.close);
    const response = await fetch(server.url);
    expect(await response.text()).toBe('data: last\n\n');
    await done.promise;
  });

  it('an HTTP/1.0 client gets the bytes unframed (no chunked encoding), ended by the close', async () => {
    const { url, bodies } = await serveDirect();
    const { socket, received } = rawClient(url);
    const closed = deferred();
    socket.on('close', () => closed.resolve());
    socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    await closed.promise;
    expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(received()).not.toMatch(/transfer-encoding/i);
    expect(bodyOf(received())).toBe('data: x\n\n');
    expect(bodies[0]?.attached()).toBe(1);
  });
});

describe('toRequest', () => {
  it('carries method, URL, headers and a streamed body', async () => {
    const seen = deferred<{ method: string; url: string; header: string | null; body: string }>();
    const server = await listen(async (req, res) => {
      const request = toRequest(req, res);
      seen.resolve({
        method: request.method,
        url: request.url,
        header: request.headers.get('x-token'),
        body: await request.text(),
      });
      res.end();
    });
    cleanups.push(server.close);
    await fetch(`${server.url}/chat?x=1`, {
      method: 'POST',
      headers: { 'x-token': 'abc' },
      body: 'hello body',
    });
    const { port } = new URL(server.url);
    expect(await seen.promise).toEqual({
      method: 'POST',
      url: `http://127.0.0.1:${port}/chat?x=1`,
      header: 'abc',
      body: 'hello body',
    });
  });

  it("takes the scheme from the connection: https on a TLS socket, and an HTTP/2 request's own :scheme", () => {
    // What node:https and node:http2 hand over, reduced to what toRequest reads.
    const tls = {
      method: 'GET',
      url: '/events?topic=a',
      headers: { host: 'example.test:8443' },
      rawHeaders: ['Host', 'example.test:8443'],
      socket: { encrypted: true },
    } as unknown as IncomingMessage;
    expect(toRequest(tls).url).toBe('https://example.test:8443/events?topic=a');
    const plain = { ...tls, socket: {} } as unknown as IncomingMessage;
    expect(toRequest(plain).url).toBe('http://example.test:8443/events?topic=a');
    // HTTP/2 names its scheme (a TLS terminator in front may speak h2c with :scheme https).
    const h2 = {
      ...tls,
      socket: {},
      scheme: 'https',
      headers: { ':authority': 'chat.example.test' },
      rawHeaders: [':authority', 'chat.example.test', ':scheme', 'https'],
    } as unknown as IncomingMessage;
    const request = toRequest(h2);
    expect(request.url).toBe('https://chat.example.test/events?topic=a');
    // Pseudo-headers are not headers of the Request.
    expect([...request.headers.keys()]).toEqual([]);
  });

  it('survives a hostile Host header', async () => {
    const seen = deferred<string>();
    const server = await listen((req, res) => {
      seen.resolve(toRequest(req, res).url);
      res.end();
    });
    cleanups.push(server.close);
    const { port, hostname } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    socket.write('GET /path?q=1 HTTP/1.1\r\nHost: a b/c@\r\nConnection: close\r\n\r\n');
    expect(await seen.promise).toBe('http://localhost/path?q=1');
    socket.destroy();
  });

  it('request.signal does not abort when the response ends normally (the connection stays open for the next)', async () => {
    const seen = deferred<boolean>();
    const server = await listen((req, res) => {
      const request = toRequest(req, res);
      // Registered after toRequest's own listeners: runs once they have.
      res.on('close', () => seen.resolve(request.signal.aborted));
      res.end('ok');
    });
    cleanups.push(server.close);
    expect(await (await fetch(server.url)).text()).toBe('ok');
    expect(await seen.promise).toBe(false);
  });

  it('createRequestListener gives the handler a request.signal that aborts on disconnect (requestSignal: false gives none)', async () => {
    for (const requestSignal of [undefined, false]) {
      const signal = deferred<AbortSignal>();
      const server = await listen(
        createRequestListener(
          (request) => {
            signal.resolve(request.signal);
            return createEventStream({ heartbeat: false }).response;
          },
          requestSignal === undefined ? {} : { requestSignal },
        ),
      );
      cleanups.push(server.close);
      const client = new AbortController();
      const body = new BodyReader((await fetch(server.url, { signal: client.signal })).body);
      await body.next();
      const requestSignalSeen = await signal.promise;
      expect(requestSignalSeen.aborted).toBe(false);
      const aborted = new Promise<boolean>((resolve) => {
        requestSignalSeen.addEventListener('abort', () => resolve(true));
        setTimeout(() => resolve(false), requestSignal === false ? 200 : 5_000);
      });
      client.abort();
      expect(await aborted).toBe(requestSignal === undefined);
    }
  });

  it('isForbiddenMethod names the methods a Request cannot carry, in any case', () => {
    for (const method of ['CONNECT', 'TRACE', 'TRACK', 'connect', 'Trace', 'track']) {
      expect(isForbiddenMethod(method)).toBe(true);
    }
    for (const method of [undefined, 'GET', 'POST', 'OPTIONS', 'TRACES', 'TRAC', 'PATCH']) {
      expect(isForbiddenMethod(method)).toBe(false);
    }
  });

  it('request.signal aborts when the client disconnects before the response ends', async () => {
    const aborted = deferred<unknown>();
    const server = await listen((req, res) => {
      const request = toRequest(req, res);
      request.signal.addEventListener('abort', () => aborted.resolve(request.signal.reason));
      res.flushHeaders();
    });
    cleanups.push(server.close);
    const client = new AbortController();
    await fetch(server.url, { signal: client.signal });
    client.abort();
    expect((await aborted.promise) as DOMException).toMatchObject({ name: 'AbortError' });
  });
});

describe('node:http2 (compat API)', () => {
  async function h2serve(handler: (request: Request) => Response | Promise<Response>) {
    const server = http2.createServer(createRequestListener(handler));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          session.destroy();
          server.close(() => resolve());
        }),
    );
    return session;
  }

  it('streams events with the SSE headers and no connection-specific header', async () => {
    const session = await h2serve((request) =>
      streamEvents([{ data: request.url }, 'two'], {
        heartbeat: false,
        headers: { connection: 'keep-alive' },
      }),
    );
    const req = session.request({ ':path': '/events' });
    const headers = deferred<http2.IncomingHttpHeaders>();
    req.on('response', headers.resolve);
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    const ended = deferred();
    req.on('end', ended.resolve);
    const h = await headers.promise;
    expect(h[':status']).toBe(200);
    expect(h['content-type']).toBe(SSE_HEADERS['content-type']);
    expect(h['cache-control']).toBe(SSE_HEADERS['cache-control']);
    expect(h.connection).toBeUndefined();
    await ended.promise;
    expect(text).toMatch(/^:\n\ndata: http:\/\/127\.0\.0\.1:\d+\/events\n\ndata: two\n\n$/);
  });

  it("respects HTTP/2 flow control: waits for 'drain', then delivers everything", async () => {
    const total = 2000;
    const producerDone = deferred<number>();
    const session = await h2serve(() => {
      const stream = createEventStream({ heartbeat: false, highWaterMark: 8 * 1024 });
      void (async () => {
        let sent = 0;
        for (let i = 0; i < total; i++)
          if (await stream.send({ id: String(i), data: 'z'.repeat(500) })) sent++;
        stream.close();
        producerDone.resolve(sent);
      })();
      return stream.response;
    });
    const req = session.request({ ':path': '/' });
    req.on('error', () => {});
    let blocks = 0;
    let carry = '';
    req.setEncoding('utf8');
    req.pause(); // not reading: the 64 KiB window fills and the server must wait
    const ended = deferred();
    req.on('end', ended.resolve);
    req.on('data', (chunk: string) => {
      const text = carry + chunk;
      blocks += text.split('\n\n').length - 1;
      carry = text.endsWith('\n') ? '\n' : '';
    });
    let finished = false;
    void producerDone.promise.then(() => {
      finished = true;
    });
    for (let i = 0; i < 20; i++) await turn();
    // 1 MB cannot fit in the window and the queue: the producer is held back, not buffering.
    expect(finished).toBe(false);
    req.resume();
    expect(await producerDone.promise).toBe(total);
    await ended.promise;
    expect(blocks).toBe(total + 1); // + the opening comment
  });

  it('a closed HTTP/2 stream aborts the producer', async () => {
    const aborted = deferred<StreamClosedError>();
    const session = await h2serve(() => {
      const stream = createEventStream({ heartbeat: false });
      stream.signal.addEventListener('abort', () =>
        aborted.resolve(stream.signal.reason as StreamClosedError),
      );
      void stream.send('hello');
      return stream.response;
    });
    const req = session.request({ ':path': '/' });
    req.on('error', () => {});
    const first = deferred();
    req.once('data', first.resolve);
    await first.promise;
    req.close(http2.constants.NGHTTP2_CANCEL);
    expect((await aborted.promise).type).toBe('client-gone');
  });
});
