/**
 * The Next.js proof (issue 4): the example in examples/next, built and started in production
 * mode (`next build && next start`, compression on, as Next ships it), streams.
 *
 * - In real Chromium, for both the App Router route handler (`ssekit/server`) and the Pages
 *   Router API route (`ssekit/node`), the page receives the first event of the reply long
 *   before the last: under a fifth of the stream's duration, timed by the page itself. A
 *   response held back by compression or buffering arrives at once at the end (ratio about 1).
 * - Pressing Stop on the page of the Pages Router route (a plain stream) stops the producer on
 *   the server: its run record says `stopped` and it logs the disconnect. (The App Router route
 *   serves resumable replies, which a disconnect does not stop; its Stop is a DELETE, proven in
 *   next-replies.test.ts with the reload.)
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
import {
  ask,
  getRun,
  openChat,
  ROUTES,
  type RouterName,
  STREAM_TIMEOUT,
  waitFor,
  waitForEvents,
  waitForRunEnd,
} from './next-page.js';

const haveChromium = chromiumAvailable('the Next.js example in Chromium');

const ROUTERS = Object.keys(ROUTES) as RouterName[];

let app: RunningApp;

beforeAll(async () => {
  const built = await buildApp();
  console.log(`[next e2e] ${built ? 'built the example (next build)' : 'reusing a fresh .next build'}`);
  app = await startApp();
}, 240_000);

afterAll(async () => {
  await app?.stop();
});

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
        // The App Router's replies record their run under the reply's id (its URL's last segment).
        const location = response.headers['content-location'];
        const runId = router === 'app' ? location?.slice(location.lastIndexOf('/') + 1) : id;
        expect((await getRun(app.url, runId!))?.state).toBe('completed');
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
          const { page, errors } = await openChat(browser, app.url, router);
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
            expect((await getRun(app.url, id))?.state).toBe('completed');
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

  // The App Router's Stop (a DELETE of its resumable reply) is in next-replies.test.ts.
  for (const router of ['pages'] as const) {
    test(`${router}: Stop aborts the request and the producer leaves its loop`, async () => {
      const { page, errors } = await openChat(browser, app.url, router);
      try {
        await ask(page, 'Tell me something long');
        const reply = page.locator('[data-testid="reply"]');
        // Let a few events through so the producer is surely mid-reply.
        await waitForEvents(page, 5);
        const id = (await reply.getAttribute('data-run-id'))!;
        await page.getByRole('button', { name: 'Stop' }).click();
        await page.locator('[data-testid="reply"][data-state="stopped"]').waitFor({ timeout: 10_000 });

        const run = await waitForRunEnd(app.url, id);
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
