/**
 * In Chromium: the AI SDK's own `useChat` (`@ai-sdk/react` 3, `ai` 6) with `resume: true` on
 * `createChatReplies`. A reply streams; the page reloads mid-reply and the reply continues where
 * the model is, its text once (the transport replays from the start, the chat rebuilds the
 * message); Stop ends the generation (the mock model's signal aborts). One model call a turn.
 */
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestListener } from '../../src/adapters/node/index.js';
import { createChatReplies } from '../../src/ai/sdk.js';
import { bundleForBrowser } from '../helpers/bundle.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { listen } from '../helpers/server.js';
import { API, type Model, pacedModel } from './chat-helpers.js';

const available = chromiumAvailable('useChat browser test');
const WORDS = ['Once', ' upon', ' a', ' time', ' there', ' was', ' a', ' stream', '.'];
const PAGE =
  '<!doctype html><meta charset="utf-8"><title>chat</title><div id="root"></div><script type="module" src="/app.js"></script>';

let browser: Browser;
let app: string;
let server: Awaited<ReturnType<typeof listen>>;
const chat = createChatReplies({ api: API, heartbeat: false });
let model: Model | undefined;

beforeAll(async () => {
  if (!available) return;
  app = await bundleForBrowser(fileURLToPath(new URL('./chat-page.ts', import.meta.url)), {
    'process.env.NODE_ENV': '"production"',
  });
  server = await listen(
    createRequestListener(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === '/') return new Response(PAGE, { headers: { 'content-type': 'text/html' } });
      if (path === '/app.js') return new Response(app, { headers: { 'content-type': 'text/javascript' } });
      if (request.method === 'POST' && path === API) {
        const { id } = (await request.json()) as { id: string };
        if (model === undefined) throw new Error('no model set');
        return chat.start(request, id, model.produce);
      }
      return chat.handler(request);
    }),
  );
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  if (!available) return;
  await browser?.close();
  await chat.replies.close({ timeout: 0 });
  await server?.close();
});

const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();
const until = async (page: Page, id: string, expected: string) => {
  await page.waitForFunction(
    ([i, e]) => document.getElementById(i as string)?.textContent === e,
    [id, expected],
    {
      timeout: 20_000,
    },
  );
};

describe.skipIf(!available)('useChat in Chromium on createChatReplies', () => {
  it('continues a reply after a reload mid-reply, its text once; one model call', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    model = pacedModel(WORDS);
    const first = model;
    first.step(5);
    await page.goto(`${server.url}/`);
    await page.click('#send');
    await until(page, 'answer', 'Once upon a');
    await page.reload();
    // Back on the page: the resume replays the reply from its start, and it goes on live.
    await until(page, 'answer', 'Once upon a');
    first.step(2);
    await until(page, 'answer', 'Once upon a time there');
    first.step();
    await until(page, 'answer', WORDS.join(''));
    await until(page, 'status', 'ready');
    expect(await text(page, 'replies')).toBe('1');
    expect(first.calls).toBe(1);
    expect(chat.metrics().started).toBe(1);
    expect(errors).toEqual([]);

    // Stop: the generation ends on the server, not just in the tab.
    model = pacedModel(WORDS);
    const second = model;
    second.step(3);
    await page.click('#send');
    await until(page, 'answer', 'Once');
    await page.click('#stop');
    expect(((await second.aborted) as Error).name).toBe('ReplyStoppedError');
    await until(page, 'status', 'ready');
    expect(await text(page, 'answer')).toBe('Once');
    expect(chat.metrics().started).toBe(2);
    await page.close();
  }, 60_000);
});
