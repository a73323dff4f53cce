/**
 * expressjs/compression#61: a compressor holds bytes until its window fills, so an event stream
 * through it arrives all at once at the end. SSE_HEADERS' `no-transform` makes the middleware
 * step aside; and when a stream is compressed anyway (headers overridden), writeResponse calls
 * the middleware's res.flush() after every chunk so each event still leaves at once.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import compression from 'compression';
import { afterEach, describe, expect, it } from 'vitest';
import { writeResponse } from '../../src/adapters/node/index.js';
import { createEventStream, type EventStream } from '../../src/server/index.js';
import { BodyReader } from '../helpers/body.js';
import { deferred, listen } from '../helpers/server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const middleware = compression({ threshold: 0 });

async function serveCompressed(headers?: HeadersInit) {
  const opened = deferred<EventStream>();
  const server = await listen((req: IncomingMessage, res: ServerResponse) => {
    middleware(req as never, res as never, () => {
      const stream = createEventStream({ heartbeat: false, ...(headers ? { headers } : {}) });
      opened.resolve(stream);
      void writeResponse(stream.response, res);
    });
  });
  cleanups.push(server.close);
  return { url: server.url, opened: opened.promise };
}

describe('behind the compression middleware', () => {
  it('with the default headers the middleware steps aside and events stream uncompressed', async () => {
    const { url, opened } = await serveCompressed();
    const client = new AbortController();
    const response = await fetch(url, { headers: { 'accept-encoding': 'gzip' }, signal: client.signal });
    expect(response.headers.get('content-encoding')).toBeNull();
    const stream = await opened;
    const body = new BodyReader(response.body);
    for (let i = 0; i < 3; i++) {
      await stream.send(String(i));
      // The stream stays open: each event can only arrive if it was not held back.
      await body.until(() => body.events.length === i + 1);
    }
    client.abort();
  });

  it('compressed anyway (no-transform removed), res.flush() still gets every event out at once', async () => {
    const { url, opened } = await serveCompressed({ 'cache-control': 'no-cache' });
    const client = new AbortController();
    const response = await fetch(url, { headers: { 'accept-encoding': 'gzip' }, signal: client.signal });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const stream = await opened;
    const body = new BodyReader(response.body);
    for (let i = 0; i < 3; i++) {
      await stream.send(String(i));
      await body.until(() => body.events.length === i + 1);
    }
    expect(body.events.map((e) => e.data)).toEqual(['0', '1', '2']);
    client.abort();
  });
});
