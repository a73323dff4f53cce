// The demo server's HTTP edges (demo/server.mjs), without a browser: what it refuses, that it
// refuses a body too large without reading it, and its chat replies (resume, stop, /metrics).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWERS } from '../../demo/bot.mjs';
import { startDemo } from '../../demo/server.mjs';
import { compareStreamIds } from '../../src/hub/ids.js';
import { chat, metric, request, textOf } from '../helpers/demo.js';

let demo: Awaited<ReturnType<typeof startDemo>>;
const dataDir = mkdtempSync(join(tmpdir(), 'ssekit-demo-server-'));
let logged = '';

beforeAll(async () => {
  demo = await startDemo({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    log: (line: string) => {
      logged += `${line}\n`;
    },
  });
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
    // The reply goes on without its request: stopped here, so it does not outlive the test.
    await fetch(new URL(response.headers.get('content-location')!, demo.url), { method: 'DELETE' });
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
        const started = demo.replies.metrics().started;
        const response = await fetch(`${demo.url}${path}`, { method: 'POST', headers, body });
        expect(response.status).toBe(415);
        await response.body?.cancel();
        expect(demo.hub.metrics().eventsPublished).toBe(before);
        expect(demo.replies.metrics().started).toBe(started);
      });
    }

    it(`POST ${path} with JSON from another Origin: 403, nothing published`, async () => {
      for (const origin of ['http://evil.example', `http://localhost:${demo.port}`, 'null']) {
        const before = demo.hub.metrics().eventsPublished;
        const started = demo.replies.metrics().started;
        const response = await fetch(`${demo.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin },
          body: JSON.stringify({ topic: 'feed', data: 'x', message: 'hi' }),
        });
        expect(response.status, origin).toBe(403);
        await response.body?.cancel();
        expect(demo.hub.metrics().eventsPublished).toBe(before);
        expect(demo.replies.metrics().started).toBe(started);
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

describe('the feed page’s start: GET /api/recent', () => {
  const recent = async (query: string) => {
    const response = await fetch(`${demo.url}/api/recent?${query}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('answers a topic’s last 20 events, oldest first, and the id to subscribe after', async () => {
    const ids: string[] = [];
    // More than one history page (200 events): the read pages through to the newest.
    for (let n = 1; n <= 205; n++)
      ids.push(await demo.hub.publish('recent-a', { event: 'post', data: `a${n}` }));
    await demo.hub.publish('recent-b', 'another topic');
    const { status, body } = await recent('topic=recent-a');
    expect(status).toBe(200);
    expect(body.events).toEqual(ids.slice(-20).map((id, i) => ({ id, event: 'post', data: `a${i + 186}` })));
    // Where the read ended: the broker's newest id (here the other topic's event).
    expect(compareStreamIds(String(body.after), ids.at(-1)!)).toBeGreaterThan(0);
    // A subscriber that resumes after it gets what was published since, nothing before.
    const later = await demo.hub.publish('recent-a', 'later');
    const stream = await request(`${demo.url}/hub?topic=recent-a`, {
      headers: { 'last-event-id': String(body.after) },
    });
    const [first] = await stream.take(1);
    stream.disconnect();
    expect(first).toMatchObject({ id: later, data: 'later' });
  });

  it('a topic without events: none, and an id to subscribe after', async () => {
    const { status, body } = await recent('topic=never-published');
    expect(status).toBe(200);
    expect(body.events).toEqual([]);
    expect(body.after).toMatch(/^\d+-\d+$/);
  });

  it('refuses a missing, empty, too long or control-character topic with 400', async () => {
    for (const query of ['', 'topic=', `topic=${'x'.repeat(129)}`, 'topic=a%0Ab']) {
      expect((await recent(query)).status, query).toBe(400);
    }
  });
});

describe('the dashboard’s burst', () => {
  it('one runs at a time: a second POST while the first publishes (over ~1.5 s) is a 409', async () => {
    const post = () =>
      fetch(`${demo.url}/api/burst`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
    const before = demo.hub.metrics().eventsPublished;
    const first = post();
    // The first has started: it pauses between batches of 10 until its 200th event.
    await expect.poll(() => demo.hub.metrics().eventsPublished, { interval: 5 }).toBeGreaterThan(before);
    const second = await post();
    expect(second.status).toBe(409);
    expect(await second.json()).toEqual({ error: 'a burst is already running' });
    expect((await first).status).toBe(200);
    expect(demo.hub.metrics().eventsPublished - before).toBe(200);
  });
});

describe('chat replies: POST starts one, its URL resumes (GET) and stops (DELETE) it', () => {
  const running = 'ssekit_replies_running';
  const started = 'ssekit_replies_started_total';

  it('POST answers with Content-Location; a GET there replays the whole answer once, then end done; /metrics counts it', async () => {
    const before = await metric(demo.url, started);
    const posted = await chat(demo.url, 'Why?');
    expect(posted.status).toBe(200);
    const location = posted.headers.get('content-location')!;
    expect(location).toMatch(/^\/api\/replies\/[\w-]+$/);
    await posted.take(1);
    expect(await metric(demo.url, started)).toBe(before + 1);
    expect(await metric(demo.url, running)).toBe(1);
    const events = await posted.rest();
    expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"done"}' });
    const text = textOf(events);
    expect(ANSWERS.some((answer: string) => text === `You said “Why?” ${answer}`)).toBe(true);
    // Read again from its URL: the same log, every token once.
    const replay = await request(new URL(location, demo.url).href);
    expect(replay.status).toBe(200);
    expect(textOf(await replay.rest())).toBe(text);
    expect(await metric(demo.url, running)).toBe(0);
    const text2 = await (await fetch(`${demo.url}/metrics`)).text();
    expect(text2).toContain(`# TYPE ${started} counter\n`);
    expect(text2).toContain(`# TYPE ${running} gauge\n`);
    expect(text2).toMatch(new RegExp(`# HELP ${started} \\S`));
    expect(text2).toMatch(new RegExp(`# HELP ${running} \\S`));
  });

  it('a GET with Last-Event-ID goes on after that token, each token once; the producer ran once', async () => {
    const before = await metric(demo.url, started);
    const posted = await chat(demo.url, 'Resume me');
    const location = posted.headers.get('content-location')!;
    const seen = (await posted.take(5)).slice(0, 5);
    posted.disconnect();
    const resumed = await request(new URL(location, demo.url).href, {
      headers: { 'last-event-id': seen.at(-1)!.id },
    });
    const rest = await resumed.rest();
    expect(rest.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"done"}' });
    const whole = await request(new URL(location, demo.url).href);
    expect(textOf(seen) + textOf(rest)).toBe(textOf(await whole.rest()));
    expect(await metric(demo.url, started)).toBe(before + 1);
  });

  it('DELETE stops it: 204, its streams end with end stopped, the bot’s signal aborted', async () => {
    const posted = await chat(demo.url, 'Stop me');
    const location = new URL(posted.headers.get('content-location')!, demo.url).href;
    await posted.take(2);
    const reader = await request(location);
    await reader.take(1);
    const stoppedBefore = await metric(demo.url, 'ssekit_replies_ended_total{reason="stopped"}');
    const stopsLogged = () => logged.match(/reply stopped after \d+ tokens; producer stopped/g)?.length ?? 0;
    const logsBefore = stopsLogged();
    const answer = await fetch(location, { method: 'DELETE' });
    expect(answer.status).toBe(204);
    for (const stream of [posted, reader]) {
      expect((await stream.rest()).at(-1)).toMatchObject({ event: 'end', data: '{"reason":"stopped"}' });
    }
    // The bot's finally ran with its signal aborted by the stop (demo/bot.mjs logs the reason).
    expect(stopsLogged()).toBe(logsBefore + 1);
    expect(await metric(demo.url, running)).toBe(0);
    expect(await metric(demo.url, 'ssekit_replies_ended_total{reason="stopped"}')).toBe(stoppedBefore + 1);
    expect((await fetch(location, { method: 'DELETE' })).status).toBe(204);
  });

  it('DELETE from another Origin: 403, the reply goes on', async () => {
    const posted = await chat(demo.url, 'Keep going');
    const location = new URL(posted.headers.get('content-location')!, demo.url).href;
    await posted.take(1);
    for (const origin of ['http://evil.example', 'null']) {
      const answer = await fetch(location, { method: 'DELETE', headers: { origin } });
      expect(answer.status, origin).toBe(403);
    }
    const own = await fetch(location, { method: 'DELETE', headers: { origin: demo.url } });
    expect(own.status).toBe(204);
    expect((await posted.rest()).at(-1)).toMatchObject({ event: 'end', data: '{"reason":"stopped"}' });
  });

  it('an unknown reply: GET and DELETE answer 404', async () => {
    const url = `${demo.url}/api/replies/AAAAAAAAAAAAAAAAAAAAAA`;
    expect((await fetch(url)).status).toBe(404);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(404);
  });
});
