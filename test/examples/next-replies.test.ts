/**
 * The Next.js example's resumable replies (issue 14), against `next build && next start`: the App
 * Router chat, `POST /api/chat`, runs its reply with `ssekit/replies`, and `/api/replies/[id]`
 * (another route module, the same `Replies` through lib/replies.ts) resumes it with GET and
 * stops it with DELETE.
 *
 * - Over HTTP: the POST names the reply (`Content-Location`); its client leaves mid-reply and
 *   the producer goes on; a GET with `Last-Event-ID` gets the rest, every character once, then
 *   `end` `done`; a GET with the end's id answers 204; an unknown reply 404; DELETE stops one.
 * - In Chromium: a reload mid-reply resumes it (one POST, then one GET with `Last-Event-ID`) and
 *   the final text is the full answer, every character once; so does a connection cut under the
 *   page (through a TCP proxy), without a reload; Stop sends DELETE and the reply ends with `end`
 *   `{"reason":"stopped"}`, after a reload too.
 */

import type { Browser, Page, Request as PlaywrightRequest } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { replyTo } from '../../examples/next/lib/mock-bot.js';
import type { ServerSentEvent } from '../../src/index.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { readEventsUntil } from '../helpers/read-events.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { buildApp, type RunningApp, startApp } from './next-app.js';
import { ask, getRun, openChat, STREAM_TIMEOUT, waitFor, waitForEvents, waitForRunEnd } from './next-page.js';

const haveChromium = chromiumAvailable('the Next.js example in Chromium');

/** Where the page keeps the reply in progress (examples/next/components/pending-reply.ts). */
const PENDING_KEY = 'ssekit-example:pending-reply';
const REPLY_URL = /^\/api\/replies\/[A-Za-z0-9_-]{22}$/;
const EVENT_ID = /^\d+-\d+$/;
const JSON_HEADERS = { 'Content-Type': 'application/json' };

let app: RunningApp;

beforeAll(async () => {
  const built = await buildApp();
  console.log(`[next replies] ${built ? 'built the example (next build)' : 'reusing a fresh .next build'}`);
  app = await startApp();
}, 240_000);

afterAll(async () => {
  await app?.stop();
});

const messages = (events: ServerSentEvent[]) => events.filter((e) => e.event === 'message');
const textOf = (events: ServerSentEvent[]) =>
  messages(events)
    .map((e) => (JSON.parse(e.data) as { content: string }).content)
    .join('');
const idOf = (url: string) => url.slice(url.lastIndexOf('/') + 1);

function postChat(message: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${app.url}/api/chat`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ message }),
    ...(signal ? { signal } : {}),
  });
}

describe('Next.js example: the resumable reply routes over HTTP', () => {
  test(
    'POST names the reply; its client leaves; a GET with Last-Event-ID gets the rest exactly once',
    async () => {
      const question = 'resume over plain HTTP';
      const full = replyTo(question);
      const leave = new AbortController();
      const post = await postChat(question, leave.signal);
      expect(post.status).toBe(200);
      expect(post.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const location = post.headers.get('content-location')!;
      expect(location).toMatch(REPLY_URL);

      const head = await readEventsUntil(post, (events) => messages(events).length >= 10);
      leave.abort();
      const lastId = messages(head).at(-1)!.id;
      expect(lastId).toMatch(EVENT_ID);
      // Mid-reply, and the client is gone: the producer goes on regardless.
      expect((await getRun(app.url, idOf(location)))?.state).toBe('streaming');

      // Another route module, the same replies: it knows the reply the POST started.
      const resumed = await fetch(`${app.url}${location}`, { headers: { 'Last-Event-ID': lastId } });
      expect(resumed.status).toBe(200);
      const rest = await readEventsUntil(resumed);
      expect(textOf(head) + textOf(rest)).toBe(full);
      expect(messages(head).length + messages(rest).length).toBe(Array.from(full).length);
      const end = rest.at(-1)!;
      expect(end.event).toBe('end');
      expect(JSON.parse(end.data)).toEqual({ reason: 'done' });

      const run = await waitForRunEnd(app.url, idOf(location));
      expect(run.state).toBe('completed');
      expect(run.sent).toBe(run.total);

      // The client has the end: nothing more to send.
      const after = await fetch(`${app.url}${location}`, { headers: { 'Last-Event-ID': end.id } });
      expect(after.status).toBe(204);
      // Without Last-Event-ID: the whole reply from its start.
      expect(textOf(await readEventsUntil(await fetch(`${app.url}${location}`)))).toBe(full);
    },
    STREAM_TIMEOUT,
  );

  test('an unknown reply is 404 to GET and DELETE', async () => {
    const unknown = `${app.url}/api/replies/AAAAAAAAAAAAAAAAAAAAAA`;
    expect((await fetch(unknown)).status).toBe(404);
    expect((await fetch(unknown, { method: 'DELETE' })).status).toBe(404);
  });

  test('DELETE stops the producer; the open stream ends with reason stopped', async () => {
    const post = await postChat('stop over plain HTTP');
    const location = post.headers.get('content-location')!;
    expect(location).toMatch(REPLY_URL);
    const events = readEventsUntil(post);
    await waitFor(async () => ((await getRun(app.url, idOf(location)))?.sent ?? 0) >= 5);

    const deleted = await fetch(`${app.url}${location}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    const end = (await events).at(-1)!;
    expect(end.event).toBe('end');
    expect(JSON.parse(end.data)).toEqual({ reason: 'stopped' });
    const run = await waitForRunEnd(app.url, idOf(location));
    expect(run.state).toBe('stopped');
    expect(run.sent).toBeLessThan(run.total);
  });
});

/** The method, path and Last-Event-ID of every request the page makes to the chat's API. */
function recordApiRequests(page: Page): () => Promise<{ call: string; lastEventId?: string }[]> {
  const requests: PlaywrightRequest[] = [];
  page.on('request', (request) => {
    if (/^\/api\/(chat$|replies\/)/.test(new URL(request.url()).pathname)) requests.push(request);
  });
  return () =>
    Promise.all(
      requests.map(async (r) => ({
        call: `${r.method()} ${new URL(r.url()).pathname}`,
        lastEventId: (await r.allHeaders())['last-event-id'],
      })),
    );
}

const pendingReply = (page: Page) => page.evaluate((key) => sessionStorage.getItem(key), PENDING_KEY);

/** A TCP proxy in front of the app whose open connections the test can cut at once. */
const startCuttingProxy = (target: URL) => startTcpProxy(() => target);

describe.skipIf(!haveChromium)('Next.js example: the resumable reply in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test(
    'a reload mid-reply resumes it: every character once, the producer run once',
    async () => {
      const { page, errors } = await openChat(browser, app.url, 'app');
      const apiRequests = recordApiRequests(page);
      try {
        const question = 'Will this survive a reload?';
        const full = replyTo(question);
        await ask(page, question);
        await waitForEvents(page, 20);
        const reply = page.locator('[data-testid="reply"]');
        const id = (await reply.getAttribute('data-run-id'))!;
        expect(`/api/replies/${id}`).toMatch(REPLY_URL);
        expect((await getRun(app.url, id))?.state).toBe('streaming');

        await page.reload();
        await page.locator('main[data-hydrated="true"]').waitFor();
        await page.locator('[data-testid="reply"][data-state="done"]').waitFor({ timeout: STREAM_TIMEOUT });

        expect(await reply.getAttribute('data-resumed')).toBe('true');
        expect(await reply.getAttribute('data-end-reason')).toBe('done');
        expect(await reply.textContent()).toBe(full);
        expect(Number(await reply.getAttribute('data-events'))).toBe(Array.from(full).length);
        // One POST before the reload, one GET of the reply's URL after it, resuming mid-reply.
        const sent = await apiRequests();
        expect(sent.map(({ call }) => call)).toEqual(['POST /api/chat', `GET /api/replies/${id}`]);
        expect(sent[1]!.lastEventId).toMatch(EVENT_ID);
        const run = await waitForRunEnd(app.url, id);
        expect(run.state).toBe('completed');
        expect(run.sent).toBe(run.total);
        // Ended: a further reload has nothing to resume.
        expect(await pendingReply(page)).toBeNull();
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    },
    STREAM_TIMEOUT,
  );

  test('Stop sends DELETE: the producer stops and the reply ends with reason stopped', async () => {
    const { page, errors } = await openChat(browser, app.url, 'app');
    try {
      await ask(page, 'Tell me something long');
      await waitForEvents(page, 5);
      const reply = page.locator('[data-testid="reply"]');
      const id = (await reply.getAttribute('data-run-id'))!;
      const deleted = page.waitForResponse(
        (r) => r.request().method() === 'DELETE' && new URL(r.url()).pathname === `/api/replies/${id}`,
      );
      await page.getByRole('button', { name: 'Stop' }).click();
      expect((await deleted).status()).toBe(204);
      await page.locator('[data-testid="reply"][data-state="stopped"]').waitFor({ timeout: 10_000 });
      expect(await reply.getAttribute('data-end-reason')).toBe('stopped');

      const run = await waitForRunEnd(app.url, id);
      expect(run.state).toBe('stopped');
      expect(run.sent).toBeLessThan(run.total);
      await waitFor(() => app.log.some((line) => line.includes(`run ${id}: reply stopped`)));
      const shown = Number(await reply.getAttribute('data-events'));
      expect(shown).toBeGreaterThanOrEqual(5);
      expect(shown).toBeLessThanOrEqual(run.sent);
      expect(await pendingReply(page)).toBeNull();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
  test(
    'a connection cut under the page mid-reply: it resumes with a GET, no reload, every character once',
    async () => {
      const proxy = await startCuttingProxy(new URL(app.url));
      const { page, errors } = await openChat(browser, proxy.url, 'app');
      const apiRequests = recordApiRequests(page);
      try {
        const question = 'What if the network drops?';
        const full = replyTo(question);
        await ask(page, question);
        await waitForEvents(page, 20);
        const reply = page.locator('[data-testid="reply"]');
        const id = (await reply.getAttribute('data-run-id'))!;
        proxy.cut();
        await page.locator('[data-testid="reply"][data-state="done"]').waitFor({ timeout: STREAM_TIMEOUT });

        expect(await reply.textContent()).toBe(full);
        expect(Number(await reply.getAttribute('data-events'))).toBe(Array.from(full).length);
        expect(await reply.getAttribute('data-resumed')).toBeNull();
        const sent = await apiRequests();
        expect(sent.map(({ call }) => call)).toEqual(['POST /api/chat', `GET /api/replies/${id}`]);
        expect(sent[1]!.lastEventId).toMatch(EVENT_ID);
        expect((await waitForRunEnd(app.url, id)).sent).toBe(Array.from(full).length);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await proxy.close();
      }
    },
    STREAM_TIMEOUT,
  );

  test('Stop after a reload stops the resumed reply', async () => {
    const { page, errors } = await openChat(browser, app.url, 'app');
    try {
      await ask(page, 'Stop me after a reload');
      await waitForEvents(page, 5);
      const reply = page.locator('[data-testid="reply"]');
      const id = (await reply.getAttribute('data-run-id'))!;
      await page.reload();
      await page.locator('[data-testid="reply"][data-resumed="true"][data-state="streaming"]').waitFor();
      const shownBefore = Number(await reply.getAttribute('data-events'));
      await waitForEvents(page, shownBefore + 5);
      const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
      await page.getByRole('button', { name: 'Stop' }).click();
      expect(new URL((await deleted).url()).pathname).toBe(`/api/replies/${id}`);
      await page.locator('[data-testid="reply"][data-state="stopped"]').waitFor({ timeout: 10_000 });
      expect(await reply.getAttribute('data-end-reason')).toBe('stopped');
      const run = await waitForRunEnd(app.url, id);
      expect(run.state).toBe('stopped');
      expect(run.sent).toBeLessThan(run.total);
      expect(await pendingReply(page)).toBeNull();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
