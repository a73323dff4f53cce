/**
 * Issue 12, item 3: a subscriber that stops reading is cut after `slowConsumerGrace` on every
 * path a response body can take: written straight to the socket (node:http), read as a stream
 * by the Node adapter (behind compression's `flush`), and read as a Web stream (HTTP/2, Bun,
 * Deno, Next.js).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import compression from 'compression';
import { afterEach, describe, expect, it } from 'vitest';
import { createRequestListener } from '../../src/adapters/node/index.js';
import { createHub, type Hub, isHubError } from '../../src/hub/index.js';
import { isStreamClosedError } from '../../src/server/index.js';
import { listen } from '../helpers/server.js';
import { nextMacrotask } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const GRACE_MS = 20;
// Long enough for a loaded machine, short enough that a connection never cut fails the test
// instead of timing it out.
const PATIENCE_MS = 3000;

function slowHub(maxQueuedBytes: number): Hub {
  const hub = createHub({ heartbeat: false, limits: { maxQueuedBytes }, slowConsumerGrace: GRACE_MS });
  cleanups.push(() => hub.close({ timeout: 100 }));
  return hub;
}

/** Settles with true once `promise` settles, false after `ms` (the timer never outlives it). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A raw TCP subscriber that sends its GET and never reads, while 64 KiB events are published
 * until the hub drops it (bounded: the kernel buffers a few MiB of loopback traffic before node
 * queues anything). Then waits, bounded, for the server to close the connection.
 */
async function stopReadingOn(
  hub: Hub,
  server: { server: import('node:http').Server; url: string },
  maxQueuedBytes: number,
) {
  const serverSockets: Socket[] = [];
  server.server.on('connection', (s) => serverSockets.push(s));
  const stuck = connect(Number(new URL(server.url).port), '127.0.0.1');
  stuck.on('error', () => {});
  cleanups.push(() => {
    stuck.destroy();
  });
  stuck.write('GET /?topic=t HTTP/1.1\r\nHost: x\r\n\r\n');
  stuck.pause(); // and never read again
  for (let i = 0; i < 1000 && hub.metrics().subscribers === 0; i++) await nextMacrotask();
  expect(hub.metrics().subscribers).toBe(1);
  const payload = 'x'.repeat(64 * 1024);
  let peak = 0;
  for (let i = 0; i < 2000 && hub.metrics().slowConsumerDisconnects === 0; i++) {
    await hub.publish('t', payload);
    await nextMacrotask();
    peak = Math.max(peak, hub.metrics().queuedBytes);
  }
  expect(hub.metrics().slowConsumerDisconnects).toBe(1);
  expect(hub.metrics().subscribers).toBe(0);
  expect(peak).toBeLessThanOrEqual(maxQueuedBytes + payload.length + 64);
  // After the grace the connection is cut, whatever the peer does.
  expect(serverSockets).toHaveLength(1);
  const socket = serverSockets[0] as Socket;
  if (!socket.destroyed) await within(new Promise((resolve) => socket.once('close', resolve)), PATIENCE_MS);
  expect(socket.destroyed).toBe(true);
}

describe('a subscriber that stops reading is cut after the grace', () => {
  it('direct write: node:http writes straight to the socket', async () => {
    const max = 256 * 1024;
    const hub = slowHub(max);
    const server = await listen(createRequestListener(hub.handler));
    cleanups.push(server.close);
    await stopReadingOn(hub, server, max);
  });

  it('streamed: behind the compression middleware (its flush makes the adapter read the body)', async () => {
    const max = 256 * 1024;
    const hub = slowHub(max);
    const listener = createRequestListener(hub.handler);
    const middleware = compression({ threshold: 0 });
    let flush: unknown;
    const server = await listen((req: IncomingMessage, res: ServerResponse) => {
      middleware(req as never, res as never, () => {
        flush = (res as unknown as { flush?: unknown }).flush;
        listener(req, res);
      });
    });
    cleanups.push(server.close);
    await stopReadingOn(hub, server, max);
    // The path under test: the middleware's flush is what keeps the adapter off the socket.
    expect(typeof flush).toBe('function');
  });

  it('a Web Response read once by a reader that then stops: its next read fails', async () => {
    const max = 64 * 1024;
    const hub = slowHub(max);
    const response = await hub.subscribe({ topics: ['t'] });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false); // the opening comment; then it stops
    const payload = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 100 && hub.metrics().slowConsumerDisconnects === 0; i++) {
      await hub.publish('t', payload);
      await nextMacrotask();
    }
    expect(hub.metrics().slowConsumerDisconnects).toBe(1);
    expect(hub.metrics().subscribers).toBe(0);
    // The stream errors once the grace is over (it would otherwise wait for the reader forever).
    expect(await within(reader.closed, PATIENCE_MS)).toBe(true);
    const error = await reader.read().then(
      () => undefined,
      (e: unknown) => e,
    );
    // A policy cut, which adapters treat as expected (no error report), with the hub's reason.
    expect(isStreamClosedError(error) && error.type).toBe('overflow');
    expect(isHubError((error as Error).cause)).toBe(true);
  });
});
