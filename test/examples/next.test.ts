/**
 * The Next.js proof (issue 4): the example in examples/next, built and started in production
 * mode (`next build && next start`, compression on, as Next ships it), streams.
 *
 * - In real Chromium, for both the App Router route handler (`ssekit/server`) and the Pages
 *   Router API route (`ssekit/node`), the page receives the first event of the reply long
 *   before the last: under a fifth of the stream's duration, timed by the page itself. A
 *   response held back by compression or buffering arrives at once at the end (ratio about 1).
 * - Pressing Stop on the page stops the producer on the server (its run record says `stopped`
 *   and it logs the disconnect).
 * - Without a browser, a request that accepts gzip still gets its events one by one.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { replyTo } from '../../examples/next/lib/mock-bot.js';
import { createParser } from '../../src/index.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { buildApp, type RunningApp, startApp } from './next-app.js';

const haveChromium = chromiumAvailable('the Next.js example in Chromium');

const ROUTES = {
  app: '/api/chat',
  pages: '/api/chat-pages',
} as const;
type RouterName = keyof typeof ROUTES;
const ROUTERS = Object.keys(ROUTES) as RouterName[];

/** A full reply takes 20-40 ms per character, a few hundred characters: several seconds. */
const STREAM_TIMEOUT = 40_000;

interface RunRecord {
  id: string;
  router: RouterName;
  state: 'streaming' | 'completed' | 'stopped';
  sent: number;
  total: number;
}

let app: RunningApp;

beforeAll(async () => {
  const built = await buildApp();
  console.log(`[next e2e] ${built ? 'built the example (next build)' : 'reusing a fresh .next build'}`);
  app = await startApp();
}, 240_000);

afterAll(async () => {
  await app?.stop();
});

async function getRun(id: string): Promise<RunRecord | undefined> {
  const response = await fetch(`${app.url}/api/chat/runs/${id}`);
  if (response.status === 404) return undefined;
  expect(response.status).toBe(200);
  return (await response.json()) as RunRecord;
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms: ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls the server's record of run `id` until its producer has left its loop. */
async function waitForRunEnd(id: string, timeoutMs = 10_000): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(id);
    if (run && run.state !== 'streaming') return run;
    if (Date.now() > deadline)
      throw new Error(`run ${id} still ${run?.state ?? 'unknown'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** First and last arrival (ms after the request was sent) and how many came in the first 3/4. */
function describeArrivals(sentAt: number, received: number[]) {
  const first = received[0]! - sentAt;
  const last = received[received.length - 1]! - sentAt;
  const earlyCount = received.filter((t) => t - sentAt <= last * 0.75).length;
  return { first, last, ratio: first / last, earlyCount };
}

function expectStreamed(router: string, how: string, sentAt: number, received: number[]) {
  const { first, last, ratio, earlyCount } = describeArrivals(sentAt, received);
  console.log(
    `[next e2e] ${router} (${how}): ${received.length} events, first after ${first.toFixed(0)} ms, ` +
      `last after ${last.toFixed(0)} ms: first/last = ${ratio.toFixed(3)}`,
  );
  // The criterion: the first part arrives long before the last.
  expect(ratio).toBeLessThan(0.2);
  // And the events keep coming along the way rather than in one late burst.
  expect(earlyCount).toBeGreaterThan(received.length / 2);
}

describe('Next.js example over plain HTTP', () => {
  for (const router of ROUTERS) {
    test(`${router}: refuses what is not a JSON chat POST`, async () => {
      const get = await fetch(`${app.url}${ROUTES[router]}`);
      expect(get.status).toBe(405);
      const text = await fetch(`${app.url}${ROUTES[router]}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: 'hello',
      });
      expect(text.status).toBe(415);
      const empty = await fetch(`${app.url}${ROUTES[router]}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [] }),
      });
      expect(empty.status).toBe(400);
      const huge = await fetch(`${app.url}${ROUTES[router]}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ message: 'x'.repeat(64 * 1024) }),
      });
      expect(huge.status).toBe(413);
    });
  }
});

describe.concurrent('Next.js example streams (full replies, side by side)', () => {
  for (const router of ROUTERS) {
    test(
      `${router}: Accept-Encoding gzip still yields the events one by one`,
      async () => {
        const question = `gzip check via ${router}`;
        const id = `http-${router}-${Date.now()}`;
        const body = JSON.stringify({ id, messages: [{ role: 'user', content: question }] });
        const url = new URL(ROUTES[router], app.url);
        const received: number[] = [];
        let content = '';
        const parser = createParser({
          onEvent: (event) => {
            if (event.event !== 'message') return;
            received.push(performance.now());
            content += (JSON.parse(event.data) as { content: string }).content;
          },
        });

        const sentAt = performance.now();
        const response = await new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpRequest(url, {
            method: 'POST',
            headers: {
              'Content-Type': 'application/json',
              'Content-Length': Buffer.byteLength(body),
              'Accept-Encoding': 'gzip, deflate, br',
            },
          });
          req.once('response', resolve);
          req.once('error', reject);
          req.end(body);
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
        expect(response.headers['cache-control']).toContain('no-transform');
        expect(response.headers['x-accel-buffering']).toBe('no');
        const encoding = response.headers['content-encoding'] ?? 'identity';
        console.log(
          `[next e2e] ${router}: with Accept-Encoding gzip the server answered Content-Encoding ${encoding}`,
        );
        // Whatever the server chose, decode it as it comes: a compressor that held the events
        // back would show up below as a late first event.
        const decoded =
          encoding === 'gzip'
            ? response.pipe(createGunzip())
            : encoding === 'br'
              ? response.pipe(createBrotliDecompress())
              : encoding === 'deflate'
                ? response.pipe(createInflate())
                : response;
        for await (const chunk of decoded) parser.feed(chunk as Buffer);

        expect(content).toBe(replyTo(question));
        expectStreamed(router, `HTTP, ${encoding}`, sentAt, received);
        expect((await getRun(id))?.state).toBe('completed');
      },
      STREAM_TIMEOUT,
    );
  }

  describe.skipIf(!haveChromium)('in Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    for (const router of ROUTERS) {
      test(
        `${router}: the page shows the reply growing, first event long before the last`,
        async () => {
          const { page, errors } = await openChat(browser, router);
          try {
            const question = `How does the ${router} router stream?`;
            await ask(page, question);
            const reply = page.locator('[data-testid="reply"][data-state="done"]');
            await reply.waitFor({ timeout: STREAM_TIMEOUT });
            expect(await reply.textContent()).toBe(replyTo(question));
            const id = (await reply.getAttribute('data-run-id'))!;
            const timings = await pageTimings(page, id);
            expect(timings?.router).toBe(router);
            expect(timings?.received.length).toBe(Array.from(replyTo(question)).length);
            expectStreamed(router, 'Chromium page', timings!.sentAt, timings!.received);
            expect((await getRun(id))?.state).toBe('completed');
            expect(errors).toEqual([]);
          } finally {
            await page.close();
          }
        },
        STREAM_TIMEOUT,
      );
    }
  });
});

describe.skipIf(!haveChromium)('Next.js example: Stop on the page stops the server-side producer', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const router of ROUTERS) {
    test(`${router}: Stop aborts the request and the producer leaves its loop`, async () => {
      const { page, errors } = await openChat(browser, router);
      try {
        await ask(page, 'Tell me something long');
        const reply = page.locator('[data-testid="reply"]');
        // Let a few events through so the producer is surely mid-reply.
        // (React may render several events at once, so wait for "at least", not "exactly".)
        await page.waitForFunction(
          () => Number(document.querySelector('[data-testid="reply"]')?.getAttribute('data-events')) >= 5,
          undefined,
          { timeout: 10_000 },
        );
        const id = (await reply.getAttribute('data-run-id'))!;
        await page.getByRole('button', { name: 'Stop' }).click();
        await page.locator('[data-testid="reply"][data-state="stopped"]').waitFor({ timeout: 10_000 });

        const run = await waitForRunEnd(id);
        expect(run.router).toBe(router);
        expect(run.state).toBe('stopped');
        expect(run.sent).toBeLessThan(run.total);
        // The server's log line travels through a pipe of its own: give it the same bounded wait.
        await waitFor(() => app.log.some((line) => line.includes(`run ${id}: client disconnected`)));
        const shown = Number(await reply.getAttribute('data-events'));
        expect(shown).toBeGreaterThanOrEqual(5);
        expect(shown).toBeLessThanOrEqual(run.sent);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    });
  }
});

interface ChatPage {
  page: Page;
  /** Uncaught errors of the page's scripts: there must be none. */
  errors: Error[];
}

async function openChat(browser: Browser, router: RouterName): Promise<ChatPage> {
  const page = await browser.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(`${app.url}/`);
  // Wait for React to hydrate: before that, Send would submit the form natively.
  await page.locator('main[data-hydrated="true"]').waitFor();
  await page.locator(`input[name="router"][value="${router}"]`).check();
  return { page, errors };
}

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Message').fill(question);
  await page.getByRole('button', { name: 'Send' }).click();
}

interface PageTimings {
  router: RouterName;
  sentAt: number;
  received: number[];
}

/** The arrival times the page recorded for run `id` (see components/chat.tsx). */
function pageTimings(page: Page, id: string): Promise<PageTimings | undefined> {
  return page.evaluate(
    (runId) => (window as unknown as { __ssekitChat?: Record<string, PageTimings> }).__ssekitChat?.[runId],
    id,
  );
}
