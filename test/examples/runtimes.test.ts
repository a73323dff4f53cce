/**
 * Bun and Deno, for real: the Bun and Deno examples (`examples/bun`, `examples/deno`) and a hub
 * (`test/examples/runtime-hub.mjs`) run in their runtime and are read from Node; `ssekit/client`
 * runs inside each runtime against the node:http example. Both import `ssekit/*` from `dist/` through the package's exports, as a user
 * would. Skipped with a message when a runtime is missing, failed in CI.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as nodeHttp from '../../examples/node-http/server.mjs';
import { SSE_HEADERS } from '../../src/server/index.js';
import { BodyReader } from '../helpers/body.js';
import {
  type Runtime,
  runScript,
  runtimeAvailable,
  type Started,
  startExample,
} from '../helpers/runtimes.js';
import { postChat } from './helpers.js';

const bun = runtimeAvailable('bun', 'the Bun example and client');
const deno = runtimeAvailable('deno', 'the Deno example and client');
const runtimes: [Runtime, string | undefined][] = [
  ['bun', bun],
  ['deno', deno],
];
const REPLY =
  'You said: "hello". Streaming every character as its own event proves nothing is buffered on the way.';

async function stats(app: Started): Promise<number> {
  const response = await fetch(`${app.url}/stats`);
  return ((await response.json()) as { active: number }).active;
}

describe.each(runtimes)('%s', (name, binary) => {
  describe.skipIf(!binary)('example server', () => {
    let app: Started;
    beforeAll(async () => {
      app = await startExample(binary!, name, `examples/${name}/server.mjs`, { INTERVAL: '20', DELAY: '5' });
    }, 40_000);
    afterAll(() => app?.stop());

    it('GET /events streams a feed with the SSE headers, and a client that leaves stops it', async () => {
      const client = new AbortController();
      const response = await fetch(`${app.url}/events`, { signal: client.signal });
      expect(response.status).toBe(200);
      for (const [header, value] of Object.entries(SSE_HEADERS))
        expect(response.headers.get(header)).toBe(value);
      const body = new BodyReader(response.body);
      // The feed never ends: these events can only arrive if nothing buffers the response.
      await body.until(() => body.events.length >= 3);
      expect(body.text.startsWith('retry: 2000\n\n')).toBe(true);
      expect(body.events.slice(0, 3).map((e) => [e.event, e.id])).toEqual([
        ['tick', '0'],
        ['tick', '1'],
        ['tick', '2'],
      ]);
      expect(await stats(app)).toBe(1);
      client.abort();
      await vi.waitFor(async () => expect(await stats(app)).toBe(0), { timeout: 10_000, interval: 50 });
    });

    it('GET /events resumes after Last-Event-ID', async () => {
      const client = new AbortController();
      const response = await fetch(`${app.url}/events`, {
        headers: { 'last-event-id': '41' },
        signal: client.signal,
      });
      const body = new BodyReader(response.body);
      await body.until(() => body.events.length >= 1);
      expect(body.events[0]!.id).toBe('42');
      client.abort();
    });

    it('POST /chat streams the reply one character per event, the first long before the last', async () => {
      const response = await postChat(app.url);
      expect(response.status).toBe(200);
      const body = new BodyReader(response.body);
      await body.until(() => body.events.length >= 1);
      const atFirst = body.events.length;
      await body.rest();
      const parts = body.events.map((e) => (JSON.parse(e.data) as { content: string }).content);
      expect(parts.join('')).toBe(REPLY);
      expect(parts.length).toBe([...REPLY].length);
      expect(atFirst).toBeLessThan(parts.length / 2);
    });
  });

  describe.skipIf(!binary)('ssekit/hub served by it', () => {
    it('fans out to subscribers, resumes after Last-Event-ID, and sees subscribers leave', async () => {
      const hub = await startExample(binary!, name, 'test/examples/runtime-hub.mjs', {});
      try {
        const metrics = async () =>
          ((await (await fetch(`${hub.url}/metrics`)).json()) as { subscribers: number }).subscribers;
        const subscribe = async (query: string, headers: Record<string, string> = {}) => {
          const client = new AbortController();
          const response = await fetch(`${hub.url}/?${query}`, { headers, signal: client.signal });
          expect(response.status).toBe(200);
          return { body: new BodyReader(response.body), leave: () => client.abort() };
        };
        const news = await subscribe('topic=news');
        const both = await subscribe('topic=news&topic=sports');
        await vi.waitFor(async () => expect(await metrics()).toBe(2), { timeout: 10_000, interval: 50 });
        const ids: string[] = [];
        for (const [topic, data] of [
          ['news', 'one'],
          ['sports', 'two'],
          ['news', 'three'],
        ]) {
          const response = await fetch(hub.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ topic, event: 'update', data }),
          });
          expect(response.status).toBe(200);
          ids.push(((await response.json()) as { id: string }).id);
        }
        await news.body.until(() => news.body.events.length >= 2);
        await both.body.until(() => both.body.events.length >= 3);
        expect(news.body.events.map((e) => [e.data, e.id])).toEqual([
          ['one', ids[0]],
          ['three', ids[2]],
        ]);
        expect(both.body.events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
        const late = await subscribe('topic=news&topic=sports', { 'last-event-id': ids[0]! });
        await late.body.until(() => late.body.events.length >= 2);
        expect(late.body.events.map((e) => e.data)).toEqual(['two', 'three']);
        for (const s of [news, both, late]) s.leave();
        await vi.waitFor(async () => expect(await metrics()).toBe(0), { timeout: 10_000, interval: 50 });
      } finally {
        await hub.stop();
      }
    }, 60_000);
  });

  describe.skipIf(!binary)('ssekit/client inside it', () => {
    it('POSTs and reads the reply, resumes with Last-Event-ID, reconnects after the stream ends, and runs EventSource', async () => {
      const app = await nodeHttp.start({ port: 0, interval: 20, delay: 2 });
      // A stream that ends after two events; the reconnect must carry Last-Event-ID: 2.
      const seen: (string | undefined)[] = [];
      const dropping = createServer((req, res) => {
        const last = req.headers['last-event-id'] as string | undefined;
        seen.push(last);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (last === undefined) res.end('retry: 50\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n');
        else res.write(`id: 3\ndata: after ${last}\n\n`);
      });
      await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
      const dropUrl = `http://127.0.0.1:${(dropping.address() as AddressInfo).port}/`;
      try {
        const out = await runScript(
          binary!,
          name,
          'test/examples/runtime-client.mjs',
          [app.url, dropUrl],
          40_000,
        );
        expect(JSON.parse(out)).toEqual({
          reply: REPLY,
          resumed: ['42', '43'],
          eventSource: { type: 'tick', lastEventId: '0', n: 0, readyState: 2 },
          acrossReconnect: ['1:a', '2:b', '3:after 2'],
        });
        expect(seen).toEqual([undefined, '2']);
      } finally {
        dropping.closeAllConnections();
        dropping.close();
        await app.close();
      }
    }, 60_000);
  });
});

describe.skipIf(!bun)('bun: the Node framework examples on its node:http', () => {
  it.each(['node-http', 'express', 'fastify', 'hono'])(
    '%s streams the feed and the chat',
    async (example) => {
      const app = await startExample(bun!, 'bun', `examples/${example}/server.mjs`, {});
      try {
        const client = new AbortController();
        const feed = new BodyReader((await fetch(`${app.url}/events`, { signal: client.signal })).body);
        await feed.until(() => feed.events.length >= 1);
        expect(feed.events[0]).toMatchObject({ event: 'tick', id: '0' });
        client.abort();
        const response = await postChat(app.url);
        expect(response.headers.get('content-type')).toBe(SSE_HEADERS['content-type']);
        const chat = new BodyReader(response.body);
        await chat.rest();
        expect(chat.events.map((e) => (JSON.parse(e.data) as { content: string }).content).join('')).toBe(
          REPLY,
        );
      } finally {
        await app.stop();
      }
    },
    60_000,
  );
});

describe.skipIf(!bun)('bun: a quiet stream outlives Bun.serve idleTimeout (10 s)', () => {
  it('stays open on the default heartbeat, which comes every 5 s under Bun', async () => {
    // One tick a minute: only heartbeats write to the connection. Every 5 s, the third comes at
    // 15 s, past Bun's 10 s limit; with the old 10 s heartbeat, Bun cut this stream at 20 s.
    const app = await startExample(bun!, 'bun', 'examples/bun/server.mjs', { INTERVAL: '60000' });
    try {
      const response = await fetch(`${app.url}/events`);
      const body = new BodyReader(response.body);
      const started = Date.now();
      // Read through Bun's 10 s idle limit and one heartbeat past it.
      await body.until(() => body.comments.length >= 3 || Date.now() - started > 30_000);
      expect(body.done).toBe(false);
      expect(body.comments.length).toBeGreaterThanOrEqual(3);
      expect(Date.now() - started).toBeGreaterThan(10_000);
      await body.reader.cancel();
    } finally {
      await app.stop();
    }
  }, 60_000);
});
