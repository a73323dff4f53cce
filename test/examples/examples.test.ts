/**
 * Each example started in-process on an ephemeral port (the examples import `ssekit/*`, which
 * vitest maps to the sources): the feed streams and resumes, the chat reply streams event by
 * event, and a client that leaves stops the producer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as express from '../../examples/express/server.mjs';
import * as fastify from '../../examples/fastify/server.mjs';
import * as hono from '../../examples/hono/server.mjs';
import * as nodeHttp from '../../examples/node-http/server.mjs';
import { SSE_HEADERS } from '../../src/server/index.js';
import { BodyReader } from '../helpers/body.js';
import { postChat } from './helpers.js';

type Started = Awaited<ReturnType<typeof nodeHttp.start>>;

const examples: [string, (options: { port: number; interval: number; delay: number }) => Promise<Started>][] =
  [
    ['node:http', nodeHttp.start],
    ['express + compression', express.start],
    ['fastify', fastify.start],
    ['hono on @hono/node-server', hono.start],
  ];

const REPLY_PREFIX = 'You said: "hello". ';

describe.each(examples)('example: %s', (_name, start) => {
  let app: Started;
  beforeAll(async () => {
    app = await start({ port: 0, interval: 5, delay: 5 });
  });
  afterAll(async () => {
    await app.close();
  });

  it('GET /events streams a feed that never ends, with the SSE headers', async () => {
    const client = new AbortController();
    const response = await fetch(`${app.url}/events`, { signal: client.signal });
    expect(response.status).toBe(200);
    for (const [name, value] of Object.entries(SSE_HEADERS)) expect(response.headers.get(name)).toBe(value);
    expect(response.headers.get('content-encoding')).toBeNull();
    const body = new BodyReader(response.body);
    // The stream never ends: these events can only arrive if nothing buffers the response.
    await body.until(() => body.events.length >= 3);
    expect(body.events.slice(0, 3).map((e) => [e.event, e.id])).toEqual([
      ['tick', '0'],
      ['tick', '1'],
      ['tick', '2'],
    ]);
    expect(body.text.startsWith('retry: 2000\n\n')).toBe(true);
    expect(app.active()).toBe(1);
    client.abort();
    // The server notices the disconnect and stops the producer.
    await vi.waitFor(() => expect(app.active()).toBe(0), { timeout: 5_000 });
  });

  it('GET /events resumes after the Last-Event-ID header or query parameter', async () => {
    for (const [path, headers] of [
      ['/events', { 'last-event-id': '41' }],
      ['/events?lastEventId=41', {}],
    ] as const) {
      const client = new AbortController();
      const response = await fetch(`${app.url}${path}`, { headers, signal: client.signal });
      const body = new BodyReader(response.body);
      await body.until(() => body.events.length >= 1);
      expect(body.events[0]!.id).toBe('42');
      client.abort();
    }
    await vi.waitFor(() => expect(app.active()).toBe(0), { timeout: 5_000 });
  });

  it('POST /chat streams the reply one character per event, the first long before the last', async () => {
    const response = await postChat(app.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(SSE_HEADERS['content-type']);
    const body = new BodyReader(response.body);
    await body.until(() => body.events.length >= 1);
    const atFirst = body.events.length;
    await body.rest();
    const parts = body.events.map((e) => {
      expect(e.event).toBe('message');
      return JSON.parse(e.data) as { role: string; content: string };
    });
    expect(parts.every((p) => p.role === 'assistant' && p.content.length >= 1)).toBe(true);
    const reply = parts.map((p) => p.content).join('');
    expect(reply.startsWith(REPLY_PREFIX)).toBe(true);
    expect(parts.length).toBe([...reply].length);
    // Buffered until the end, the first read would have carried the whole reply.
    expect(atFirst).toBeLessThan(parts.length / 2);
  });

  it('POST /chat refuses a malformed body with 400', async () => {
    const response = await fetch(`${app.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 42 }),
    });
    expect(response.status).toBe(400);
    await response.body?.cancel();
  });
});

describe('example: express + compression', () => {
  it('compression is really on: a plain page is gzipped', async () => {
    const app = await express.start({ port: 0, interval: 1000, delay: 1 });
    try {
      const response = await fetch(app.url, { headers: { 'accept-encoding': 'gzip' } });
      expect(response.headers.get('content-encoding')).toBe('gzip');
      expect(await response.text()).toContain('ssekit + express + compression');
    } finally {
      await app.close();
    }
  });
});
