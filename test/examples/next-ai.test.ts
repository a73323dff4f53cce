/**
 * The Next.js example's AI SDK chat (issue 17), in Chromium against `next build && next start`
 * with Redis: the page (`app/ai`, components/ai-chat.tsx) is `@ai-sdk/react`'s `useChat` with
 * `resume: true` and `DefaultChatTransport`; the routes under `/api/ai/chat` are
 * `createChatReplies` from `ssekit/ai-sdk` on `createRedisBroker` (lib/ai-chat.ts), with the mock
 * model of lib/mock-model.ts, which records its calls per chat and instance (`/api/ai/runs/<id>`).
 *
 * Two `next start` instances share one Redis (a key prefix of this run's), behind a TCP proxy the
 * test points at one or the other, as a load balancer would: the page has one origin, and
 * whichever instance answers serves it.
 *
 * - Over HTTP: a POST on A (the transport's body) names its reply URL; B serves it after
 *   `Last-Event-ID`, every word once, to `[DONE]`; once ended, `<api>/<id>/stream` is `204`.
 * - A reload mid-reply: `resume: true`'s GET continues the reply, every word once, one model call.
 * - A reply starts on A; the page reloads mid-reply, now served by B: `resume: true`'s GET on B
 *   continues the reply, and the final answer is the model's, every word once; the model ran
 *   once, on A; B made no model call.
 * - Stop mid-reply: the model call is aborted (`stopped`), the answer stays the words shown.
 * - Stop after a reload onto B: B's DELETE aborts the model call running on A.
 *
 * Without Redis the tests are skipped with a message (CI requires Redis: SSEKIT_REQUIRE_SERVICES).
 */

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { answerTo, type ModelRun } from '../../examples/next/lib/mock-model.js';
import type { ServerSentEvent } from '../../src/index.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { readEventsUntil } from '../helpers/read-events.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { buildApp, type RunningApp, startApp } from './next-app.js';
import { waitFor } from './next-page.js';

const haveRedis = await redisAvailable();
const haveChromium = chromiumAvailable('the Next.js AI SDK chat in Chromium');

/** A reply is about 60 words at 120 ms each: 7 s or so; under load, more. */
const REPLY_TIMEOUT = 60_000;

/** A TCP proxy in front of two apps: new connections go to the current target; `switchTo` cuts the rest. */
async function startSwitchingProxy(first: URL) {
  let target = first;
  const proxy = await startTcpProxy(() => target);
  return {
    url: proxy.url,
    switchTo(next: URL) {
      target = next;
      // Kept-alive connections would still reach the old instance.
      proxy.cut();
    },
    close: proxy.close,
  };
}

/** The text deltas of UI message chunks. */
const deltas = (chunks: ServerSentEvent[]) =>
  chunks
    .filter((c) => c.data !== '[DONE]')
    .map((c) => JSON.parse(c.data) as { type: string; delta?: string })
    .filter((c) => c.type === 'text-delta')
    .map((c) => c.delta!);

async function runsOf(app: RunningApp, chatId: string): Promise<ModelRun[]> {
  const response = await fetch(`${app.url}/api/ai/runs/${encodeURIComponent(chatId)}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { runs: ModelRun[] }).runs;
}

interface AiPage {
  page: Page;
  chatId: string;
  errors: Error[];
}

async function openAiChat(browser: Browser, url: string): Promise<AiPage> {
  const page = await browser.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(`${url}/ai`);
  await page.locator('[data-testid="ai-chat"]').waitFor();
  const chatId = (await page.locator('[data-testid="ai-chat"]').getAttribute('data-chat-id'))!;
  return { page, chatId, errors };
}

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Message').fill(question);
  await page.getByRole('button', { name: 'Send' }).click();
}

const answerText = (page: Page) => page.locator('[data-testid="answer"]').textContent();

/** Waits until the answer on the page holds at least `count` of `words`, in order. */
async function waitForWords(page: Page, words: string[], count: number): Promise<void> {
  await page.waitForFunction(
    (expected) => document.querySelector('[data-testid="answer"]')?.textContent?.startsWith(expected),
    words.slice(0, count).join(''),
    { timeout: 20_000 },
  );
}

/** Waits for the whole answer (the status is `ready` before a resume starts, too). */
const waitForAnswer = (page: Page, expected: string) =>
  page.waitForFunction(
    (text) => document.querySelector('[data-testid="answer"]')?.textContent === text,
    expected,
    { timeout: 30_000 },
  );

const waitForStatus = (page: Page, status: string, timeout = REPLY_TIMEOUT) =>
  page.locator(`[data-testid="ai-chat"][data-status="${status}"]`).waitFor({ timeout });

describe.skipIf(!haveRedis)('Next.js example: the AI SDK chat, two next start instances on Redis', () => {
  const prefix = uniquePrefix('next-ai');
  let a: RunningApp;
  let b: RunningApp;

  beforeAll(async () => {
    const built = await buildApp();
    console.log(`[next ai] ${built ? 'built the example (next build)' : 'reusing a fresh .next build'}`);
    const redis = { REDIS_URL, REDIS_PREFIX: prefix };
    [a, b] = await Promise.all([startApp(redis), startApp(redis)]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await deletePrefix(prefix);
  });

  test(
    'over HTTP: POST on A; B resumes the reply URL after Last-Event-ID, every word once; 204 once it ended',
    async () => {
      const chatId = `http-${Date.now().toString(36)}`;
      const question = 'Resume me over plain HTTP';
      const words = answerTo(question);
      const leave = new AbortController();
      const post = await fetch(`${a.url}/api/ai/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          id: chatId,
          trigger: 'submit-message',
          messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: question }] }],
        }),
        signal: leave.signal,
      });
      expect(post.status).toBe(200);
      expect(post.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
      const location = post.headers.get('content-location')!;
      expect(location).toMatch(/^\/api\/ai\/chat\/replies\/[A-Za-z0-9_-]+$/);
      const head = await readEventsUntil(post, (chunks) => deltas(chunks).length >= 5);
      leave.abort();

      const rest = await readEventsUntil(
        await fetch(`${b.url}${location}`, { headers: { 'Last-Event-ID': head.at(-1)!.id } }),
      );
      expect(deltas(head).concat(deltas(rest)).join('')).toBe(words.join(''));
      expect(rest.at(-1)!.data).toBe('[DONE]');
      // Ended: nothing for useChat's resume to pick up, on either instance.
      expect((await fetch(`${b.url}/api/ai/chat/${chatId}/stream`)).status).toBe(204);
      expect((await fetch(`${a.url}/api/ai/chat/${chatId}/stream`)).status).toBe(204);
      const runs = await runsOf(a, chatId);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ state: 'completed', sent: words.length });
      expect(await runsOf(b, chatId)).toEqual([]);
    },
    REPLY_TIMEOUT,
  );

  describe.skipIf(!haveChromium)('useChat in Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    test(
      'a reload mid-reply continues the reply: every word once, one model call',
      async () => {
        const { page, chatId, errors } = await openAiChat(browser, a.url);
        try {
          const question = 'Will this survive a reload?';
          const words = answerTo(question);
          await ask(page, question);
          await waitForWords(page, words, 8);
          expect((await runsOf(a, chatId)).map((r) => r.state)).toEqual(['streaming']);

          await page.reload();
          await page.locator(`[data-testid="ai-chat"][data-chat-id="${chatId}"]`).waitFor();
          await waitForAnswer(page, words.join(''));
          await waitForStatus(page, 'ready');

          expect(await page.locator('[data-testid="answer"]').getAttribute('data-answers')).toBe('1');
          expect(a.log).toContain(`[ai-chat] GET /api/ai/chat/${chatId}/stream: 200`);
          const runs = await runsOf(a, chatId);
          expect(runs).toHaveLength(1);
          expect(runs[0]).toMatchObject({ state: 'completed', sent: words.length, total: words.length });
          expect(errors).toEqual([]);
        } finally {
          await page.close();
        }
      },
      REPLY_TIMEOUT,
    );

    test(
      'a reload mid-reply, onto another instance, continues the reply: every word once, one model call',
      async () => {
        const proxy = await startSwitchingProxy(new URL(a.url));
        const { page, chatId, errors } = await openAiChat(browser, proxy.url);
        try {
          const question = 'Will this survive a reload?';
          const words = answerTo(question);
          await ask(page, question);
          await waitForWords(page, words, 8);
          // Mid-reply, on A.
          expect((await runsOf(a, chatId)).map((r) => r.state)).toEqual(['streaming']);

          proxy.switchTo(new URL(b.url));
          await page.reload();
          await page.locator(`[data-testid="ai-chat"][data-chat-id="${chatId}"]`).waitFor();
          await waitForAnswer(page, words.join(''));
          await waitForStatus(page, 'ready');

          expect(await page.locator('[data-testid="answer"]').getAttribute('data-answers')).toBe('1');
          // B served the resume (useChat's GET on load), from Redis; the model ran once, on A.
          expect(b.log).toContain(`[ai-chat] GET /api/ai/chat/${chatId}/stream: 200`);
          const runs = await runsOf(a, chatId);
          expect(runs).toHaveLength(1);
          expect(runs[0]).toMatchObject({ state: 'completed', sent: words.length, total: words.length });
          expect(await runsOf(b, chatId)).toEqual([]);
          expect(errors).toEqual([]);
        } finally {
          await page.close();
          await proxy.close();
        }
      },
      REPLY_TIMEOUT,
    );

    test('Stop mid-reply aborts the model call; the answer stays the words shown', {
      timeout: REPLY_TIMEOUT,
    }, async () => {
      const { page, chatId, errors } = await openAiChat(browser, a.url);
      try {
        const question = 'Tell me something long';
        const words = answerTo(question);
        await ask(page, question);
        await waitForWords(page, words, 5);
        const deleted = page.waitForResponse(
          (r) =>
            r.request().method() === 'DELETE' &&
            new URL(r.url()).pathname === `/api/ai/chat/${chatId}/stream`,
          { timeout: 10_000 },
        );
        await page.getByRole('button', { name: 'Stop' }).click();
        expect((await deleted).status()).toBe(204);
        await waitForStatus(page, 'ready', 10_000);

        await waitFor(async () => (await runsOf(a, chatId))[0]?.state !== 'streaming');
        const runs = await runsOf(a, chatId);
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ state: 'aborted', reason: 'stopped' });
        expect(runs[0]!.sent).toBeLessThan(words.length);
        const shown = (await answerText(page))!;
        expect(words.join('').startsWith(shown)).toBe(true);
        expect(shown.length).toBeGreaterThanOrEqual(words.slice(0, 5).join('').length);
        expect(a.log.some((line) => line.includes(`chat ${chatId}: model call aborted (stopped)`))).toBe(
          true,
        );
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    });

    test('Stop after a reload onto another instance aborts the model call where it runs', {
      timeout: REPLY_TIMEOUT,
    }, async () => {
      const proxy = await startSwitchingProxy(new URL(a.url));
      const { page, chatId, errors } = await openAiChat(browser, proxy.url);
      try {
        const question = 'Stop me from elsewhere';
        const words = answerTo(question);
        await ask(page, question);
        await waitForWords(page, words, 5);
        proxy.switchTo(new URL(b.url));
        await page.reload();
        await waitForStatus(page, 'streaming', 20_000);
        await waitForWords(page, words, 10);
        const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE', { timeout: 10_000 });
        await page.getByRole('button', { name: 'Stop' }).click();
        expect((await deleted).status()).toBe(204);
        await waitForStatus(page, 'ready', 10_000);

        expect(b.log).toContain(`[ai-chat] DELETE /api/ai/chat/${chatId}/stream: 204`);
        await waitFor(async () => (await runsOf(a, chatId))[0]?.state !== 'streaming');
        const runs = await runsOf(a, chatId);
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ state: 'aborted', reason: 'stopped' });
        expect(runs[0]!.sent).toBeLessThan(words.length);
        expect(await runsOf(b, chatId)).toEqual([]);
        expect(words.join('').startsWith((await answerText(page))!)).toBe(true);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await proxy.close();
      }
    });
  });
});
