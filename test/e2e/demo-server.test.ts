// The demo server's HTTP edges (demo/server.mjs), without a browser: what it refuses, and that it
// refuses a body too large without reading it.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from '../../demo/server.mjs';

let demo: Awaited<ReturnType<typeof startDemo>>;
const dataDir = mkdtempSync(join(tmpdir(), 'ssekit-demo-server-'));

beforeAll(async () => {
  demo = await startDemo({ port: 0, host: '127.0.0.1', dataDir, log: () => {} });
});
afterAll(async () => {
  await demo?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Writes `head` and then `body` on a raw connection, and never ends the request unless the body
 * does: the answer must come from what was sent so far. Resolves with what the server wrote
 * once it closes the connection (or rejects after `waitMs`, as a server still waiting for the
 * rest of the body would have it).
 */
function raw(head: string, body: Buffer[], waitMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(demo.port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within ${waitMs} ms; got: ${JSON.stringify(answer)}`));
    }, waitMs);
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    // The server closing on us while we still write is expected (EPIPE, ECONNRESET).
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(head);
    for (const part of body) socket.write(part);
  });
}

const status = (answer: string) => Number(answer.match(/^HTTP\/1\.1 (\d{3}) /)?.[1]);

describe('POST /api/chat: the body is capped at 64 KiB', () => {
  it('a Content-Length over the cap is answered 413 before the body is read, and the connection closed', async () => {
    const answer = await raw(
      'POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${96 * 1024 * 1024}\r\n\r\n`,
      [Buffer.from('{"message":"')],
    );
    expect(status(answer)).toBe(413);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('a chunked body that passes the cap is answered 413 while the client is still sending', async () => {
    const chunk = Buffer.alloc(8 * 1024, 'a');
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    // 80 KiB sent, and the last chunk (the end of the body) never is.
    const answer = await raw(
      'POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n',
      Array.from({ length: 10 }, () => frame),
    );
    expect(status(answer)).toBe(413);
  });

  it('a body at the cap is read and answered (here: 400, the JSON is not a chat message)', async () => {
    const body = JSON.stringify({ message: '' }).padEnd(64 * 1024, ' ');
    const response = await fetch(`${demo.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'empty message' });
  });

  it('a message still streams its reply', async () => {
    const controller = new AbortController();
    const response = await fetch(`${demo.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ message: 'hello' }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    controller.abort();
  });
});

describe('cross-site POSTs are refused', () => {
  // What a page on any site can send without a CORS preflight (a "simple" request).
  const simple: [string, Record<string, string>, string][] = [
    ['text/plain', { 'content-type': 'text/plain;charset=UTF-8' }, '{"topic":"feed","data":"x"}'],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, 'topic=feed&data=x'],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=b' }, '--b--\r\n'],
    ['no Content-Type', {}, '{"topic":"feed","data":"x"}'],
  ];
  const paths = ['/api/burst', '/hub', '/api/chat', '/api/slow-consumer'];

  for (const path of paths) {
    for (const [name, headers, body] of simple) {
      it(`POST ${path} with ${name}: 415, nothing published`, async () => {
        const before = demo.hub.metrics().eventsPublished;
        const response = await fetch(`${demo.url}${path}`, { method: 'POST', headers, body });
        expect(response.status).toBe(415);
        await response.body?.cancel();
        expect(demo.hub.metrics().eventsPublished).toBe(before);
      });
    }

    it(`POST ${path} with JSON from another Origin: 403, nothing published`, async () => {
      for (const origin of ['http://evil.example', `http://localhost:${demo.port}`, 'null']) {
        const before = demo.hub.metrics().eventsPublished;
        const response = await fetch(`${demo.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin },
          body: JSON.stringify({ topic: 'feed', data: 'x', message: 'hi' }),
        });
        expect(response.status, origin).toBe(403);
        await response.body?.cancel();
        expect(demo.hub.metrics().eventsPublished).toBe(before);
      }
    });
  }

  it('JSON from the demo’s own origin (or with no Origin, as from a script) is served', async () => {
    for (const headers of [{ origin: demo.url }, {}] as Record<string, string>[]) {
      const burst = await fetch(`${demo.url}/api/burst`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
      expect(burst.status).toBe(200);
      expect(await burst.json()).toEqual({ published: 200 });
      const publish = await fetch(`${demo.url}/hub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ topic: 'feed', data: 'same site' }),
      });
      expect(publish.status).toBe(200);
      expect(await publish.json()).toHaveProperty('id');
    }
  });
});
