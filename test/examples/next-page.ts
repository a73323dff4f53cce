/**
 * What the Next.js example's tests share: the server's record of a run (`GET
 * /api/chat/runs/<id>`, see examples/next/lib/mock-bot.ts), bounded polling, and driving the chat
 * page in Chromium.
 */
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';

export type RouterName = 'app' | 'pages';

export const ROUTES: Record<RouterName, string> = {
  app: '/api/chat',
  pages: '/api/chat-pages',
};

/** A full reply takes 20-40 ms per character, a few hundred characters: several seconds. */
export const STREAM_TIMEOUT = 40_000;

export interface RunRecord {
  id: string;
  router: RouterName;
  state: 'streaming' | 'completed' | 'stopped';
  sent: number;
  total: number;
}

export async function getRun(baseUrl: string, id: string): Promise<RunRecord | undefined> {
  const response = await fetch(`${baseUrl}/api/chat/runs/${id}`);
  if (response.status === 404) return undefined;
  expect(response.status).toBe(200);
  return (await response.json()) as RunRecord;
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms: ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls the server's record of run `id` until its producer has left its loop. */
export async function waitForRunEnd(baseUrl: string, id: string, timeoutMs = 10_000): Promise<RunRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(baseUrl, id);
    if (run && run.state !== 'streaming') return run;
    if (Date.now() > deadline)
      throw new Error(`run ${id} still ${run?.state ?? 'unknown'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface ChatPage {
  page: Page;
  /** Uncaught errors of the page's scripts: there must be none. */
  errors: Error[];
}

export async function openChat(browser: Browser, baseUrl: string, router: RouterName): Promise<ChatPage> {
  const page = await browser.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(`${baseUrl}/`);
  // Wait for React to hydrate: before that, Send would submit the form natively.
  await page.locator('main[data-hydrated="true"]').waitFor();
  await page.locator(`input[name="router"][value="${router}"]`).check();
  return { page, errors };
}

export async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Message').fill(question);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** Waits until the reply on the page shows at least `count` events (React may render several at once). */
export async function waitForEvents(page: Page, count: number): Promise<void> {
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="reply"]')?.getAttribute('data-events')) >= n,
    count,
    { timeout: 10_000 },
  );
}
