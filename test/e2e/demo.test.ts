// The demo as a newcomer meets it: `node demo/start.mjs` (what `npm start` runs after the
// build) driven in Debian's Chromium. Screenshots land in test-results/screenshots/.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWERS } from '../../demo/bot.mjs';
import { compareStreamIds } from '../../src/hub/ids.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { chat, metric, request, textOf } from '../helpers/demo.js';
import { deletePrefix, REDIS_URL, redisAvailable, startRedisProxy, uniquePrefix } from '../helpers/redis.js';

const available = chromiumAvailable('demo browser tests');

const SHOTS = 'test-results/screenshots';
const redis = await redisAvailable();
const redisPrefix = uniquePrefix('demo');
afterAll(async () => {
  if (redis) await deletePrefix(redisPrefix);
});
const dataDir = mkdtempSync(join(tmpdir(), 'ssekit-demo-'));

interface Demo {
  child: ChildProcess;
  url: string;
  log(): string;
  waitLog(text: string): Promise<void>;
  stop(): Promise<void>;
}

async function startDemo(port = 0, env: Record<string, string> = {}): Promise<Demo> {
  const child = spawn(process.execPath, ['demo/start.mjs'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEMO_DATA_DIR: dataDir,
      DEMO_RETRY_MS: '1500',
      // The journal-backed broker unless a test asks for Redis.
      REDIS_URL: '',
      ...env,
    },
  });
  let log = '';
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer) => {
    log += chunk.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const waitLog = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (log.includes(text)) return resolve();
        if (child.exitCode !== null) return reject(new Error(`demo exited:\n${log}`));
        waiters.push(check);
      };
      check();
    });
  await waitLog('listening on ');
  const url = log.match(/listening on (http:\/\/\S+)/)![1]!;
  return {
    child,
    url,
    log: () => log,
    waitLog,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function publish(base: string, data: string, topic = 'feed'): Promise<string> {
  const response = await fetch(`${base}/hub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, event: 'post', data }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

const STOPPED = 'ssekit_replies_ended_total{reason="stopped"}';

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

/** A bot bubble's text as the page shows it (inline code in `<code>`, without its backticks). */
const shownText = (page: Page, selector = '.msg.bot') =>
  page.$eval(`${selector} .text`, (text) => text.textContent ?? '');
/** A reply's text as the page shows it: the canned answers' backticks come in pairs. */
const rendered = (text: string) => text.replaceAll('`', '');

/** A phone's viewport (an iPhone 12 to 15, in CSS pixels). */
const PHONE = { width: 390, height: 844 };

/** A conversation of `pairs` finished exchanges, as the chat page keeps it in sessionStorage. */
const conversation = (pairs: number) =>
  JSON.stringify(
    Array.from({ length: pairs }, (_, i) => [
      { role: 'user', text: `Question ${i + 1}` },
      {
        role: 'bot',
        text: `Answer ${i + 1}: a line of \`data:\` and then some more words to fill the bubble.`,
        state: 'done',
        meta: '17 tokens',
        tokens: 17,
      },
    ]).flat(),
  );

/** Where the page would scroll sideways, and which controls are not fully on screen. */
async function phoneProblems(page: Page, controls: string[]): Promise<string[]> {
  const problems: string[] = [];
  const [scrollWidth, clientWidth] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  if (scrollWidth > clientWidth) problems.push(`scrolls sideways: ${scrollWidth} > ${clientWidth}`);
  for (const selector of [
    'nav a[data-tab="chat"]',
    'nav a[data-tab="ai"]',
    'nav a[data-tab="feed"]',
    'nav a[data-tab="dashboard"]',
    ...controls,
  ]) {
    const element = page.locator(selector);
    if (!(await element.isVisible())) {
      problems.push(`${selector} is not visible`);
      continue;
    }
    await element.scrollIntoViewIfNeeded();
    const box = (await element.boundingBox())!;
    if (box.x < 0 || box.x + box.width > clientWidth)
      problems.push(`${selector} is cut: x ${box.x}, width ${box.width}`);
  }
  // Each tab on one line: the four the same height, as short as one line of text.
  const tabs = await page.$$eval('nav a', (links) => links.map((a) => a.getBoundingClientRect().height));
  if (new Set(tabs).size !== 1 || tabs[0]! > 40) problems.push(`a tab wraps: heights ${tabs.join(', ')}`);
  return problems;
}

describe.skipIf(!available)('demo in Chromium', () => {
  let browser: Browser;
  let demo: Demo;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    demo = await startDemo();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('chat: the reply paints token by token, and Stop stops the server producer', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(demo.url);
    await shot(page, 'chat-empty');
    // Every animation frame, the bot bubble's text length while it is streaming.
    await page.evaluate(() => {
      const w = window as unknown as { paints: number[] };
      w.paints = [];
      const frame = () => {
        const bubble = document.querySelector('.msg.bot:last-of-type') as HTMLElement | null;
        if (bubble?.dataset.state === 'streaming' && bubble.textContent)
          w.paints.push(bubble.textContent.length);
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    await page.fill('#chat-input', 'What is SSE?');
    await page.click('#chat-send');
    await page.waitForSelector('.msg.bot[data-state="streaming"]');
    await expect.poll(() => page.getAttribute('#chat-status', 'data-state')).toBe('streaming');
    await page.waitForFunction(() => (document.querySelector('.msg.bot')?.textContent?.length ?? 0) > 40);
    await shot(page, 'chat-streaming');
    await page.waitForSelector('.msg.bot[data-state="done"]', { timeout: 20_000 });
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(1);
    expect(await metric(demo.url, 'ssekit_replies_running')).toBe(0);
    const paints = await page.evaluate(
      () => new Set((window as unknown as { paints: number[] }).paints).size,
    );
    expect(paints).toBeGreaterThanOrEqual(5);
    // The first canned answer has `data:` in backticks: a <code>, no backtick left on screen.
    expect(await page.$$eval('.msg.bot code', (codes) => codes.map((c) => c.textContent))).toEqual(['data:']);
    expect(await page.textContent('.msg.bot')).not.toContain('`');
    await shot(page, 'chat-done');

    await page.fill('#chat-input', 'Tell me more');
    await page.click('#chat-send');
    await page.waitForFunction(
      () => (document.querySelectorAll('.msg.bot')[1]?.textContent?.length ?? 0) > 20,
    );
    const stoppedBefore = await metric(demo.url, STOPPED);
    const deleted = page.waitForRequest((r) => r.method() === 'DELETE');
    await page.click('#chat-stop');
    // Stop is a DELETE of the reply's URL (not the page dropping its connection).
    expect(new URL((await deleted).url()).pathname).toMatch(/^\/api\/replies\/[\w-]+$/);
    await page.waitForSelector('.msg.bot[data-state="stopped"]');
    expect(await page.textContent('.msg.bot[data-state="stopped"] .meta')).toMatch(
      /^stopped after \d+ tokens$/,
    );
    // The bot's signal aborted with the stop: its finally logs the reason, and it no longer runs.
    await demo.waitLog('chat #2: reply stopped after');
    expect(demo.log()).not.toContain('chat #2: done');
    expect(await metric(demo.url, 'ssekit_replies_running')).toBe(0);
    expect(await metric(demo.url, STOPPED)).toBe(stoppedBefore + 1);
    expect(await page.isDisabled('#chat-stop')).toBe(true);
    await shot(page, 'chat-stopped');
    await page.close();
  });

  it('chat: a reload mid-reply resumes it where it was, each token once', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(demo.url);
    const startedBefore = await metric(demo.url, 'ssekit_replies_started_total');
    const posted = page.waitForResponse((r) => r.url().endsWith('/api/chat'));
    await page.fill('#chat-input', 'Does it survive a reload?');
    await page.click('#chat-send');
    const location = (await (await posted).headerValue('content-location'))!;
    expect(location).toMatch(/^\/api\/replies\/[\w-]+$/);
    await page.waitForFunction(() => (document.querySelector('.msg.bot')?.textContent?.length ?? 0) > 40);
    expect(await page.getAttribute('.msg.bot', 'data-state')).toBe('streaming');

    const resumed = page.waitForRequest((r) => r.method() === 'GET' && r.url().endsWith(location));
    await page.reload();
    // The page asks the reply's URL for what follows the last token it showed.
    const lastEventId = (await resumed).headers()['last-event-id'];
    expect(lastEventId).toMatch(/^\d+-\d+$/);
    expect(await page.textContent('.msg.user')).toBe('Does it survive a reload?');
    await page.waitForFunction(() => (document.querySelector('.msg.bot')?.textContent?.length ?? 0) > 40);
    await shot(page, 'chat-resumed');
    await page.waitForSelector('.msg.bot[data-state="done"]', { timeout: 20_000 });
    const shown = await shownText(page);
    // The bot's whole answer, as its log on the server has it: every token once, in order.
    const whole = await (await request(new URL(location, demo.url).href)).rest();
    expect(whole.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"done"}' });
    expect(shown).toBe(rendered(textOf(whole)));
    expect(shown.startsWith('You said “Does it survive a reload?” ')).toBe(true);
    const tokens = whole.filter((e) => e.event === 'token').length;
    expect(await page.textContent('.msg.bot .meta')).toBe(`${tokens} tokens`);
    // One producer for the whole reply: the reload did not ask for a second one.
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
    expect(await metric(demo.url, 'ssekit_replies_running')).toBe(0);
    await page.close();
  });

  it('chat: an end other than done or stopped finishes the message with an error note', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(demo.url);
    const url = '/api/replies/AAAAAAAAAAAAAAAAAAAAAA';
    // The reply's URL answers with one token and the end: what a reader gets when the producer's
    // server died (producer-lost) or the producer threw (failed).
    let reason = '';
    const resumedAfter: (string | undefined)[] = [];
    await page.route(`**${url}`, (route) => {
      resumedAfter.push(route.request().headers()['last-event-id']);
      return route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: `id: 1-1\nevent: token\ndata:  more\n\nid: 1-2\nevent: end\ndata: {"reason":"${reason}"}\n\n`,
      });
    });
    const notes: Record<string, string> = {
      'producer-lost': 'error: the server running the bot was lost after 2 tokens',
      failed: 'error: the bot failed after 2 tokens',
    };
    for (const [ended, note] of Object.entries(notes)) {
      reason = ended;
      // A page that was showing a reply when it reloaded (one token in).
      const stored = JSON.stringify([
        { role: 'user', text: 'Hi' },
        { role: 'bot', text: 'One', state: 'streaming', url, lastEventId: '1-0', tokens: 1 },
      ]);
      await page.evaluate((value) => sessionStorage.setItem('ssekit-demo-chat', value), stored);
      await page.reload();
      await page.waitForSelector('.msg.bot[data-state="error"]');
      expect(await page.textContent('.msg.bot .meta')).toBe(note);
      expect(await page.getAttribute('#chat-status', 'data-state')).toBe('error');
      expect(await page.$eval('.msg.bot', (b) => b.firstChild?.textContent)).toBe('One more');
    }
    expect(resumedAfter).toEqual(['1-0', '1-0']);
    await page.close();
  });

  it('chat: a POST stream cut mid-reply goes on at the reply URL, each token once', async () => {
    // The page talks to the demo through a TCP proxy that can drop every connection (the Redis
    // helper's proxy is plain TCP), as a network switch would; nothing reloads.
    const proxy = await startRedisProxy(demo.url);
    const base = `http://127.0.0.1:${new URL(proxy.url).port}`;
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
      await page.goto(base);
      const startedBefore = await metric(demo.url, 'ssekit_replies_started_total');
      const posted = page.waitForResponse((r) => r.url().endsWith('/api/chat'));
      await page.fill('#chat-input', 'And if the network drops?');
      await page.click('#chat-send');
      const location = (await (await posted).headerValue('content-location'))!;
      await page.waitForFunction(() => (document.querySelector('.msg.bot')?.textContent?.length ?? 0) > 40);
      const resumed = page.waitForRequest((r) => r.method() === 'GET' && r.url().endsWith(location));
      proxy.cut();
      // New connections get through again: the page's GET comes now, or on its own retry.
      proxy.heal();
      expect((await resumed).headers()['last-event-id']).toMatch(/^\d+-\d+$/);
      await page.waitForSelector('.msg.bot[data-state="done"]', { timeout: 20_000 });
      const shown = await shownText(page);
      const whole = await (await request(new URL(location, demo.url).href)).rest();
      expect(shown).toBe(rendered(textOf(whole)));
      expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
      await page.close();
    } finally {
      await proxy.close();
    }
  });

  it('chat: inline code becomes <code> elements built as nodes, never markup from the text', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(demo.url);
    const text = 'Send `<img src=x onerror="window.owned=1">` then `b` and a lone ` tick <b>x</b>';
    const stored = JSON.stringify([
      { role: 'user', text: 'Markup?' },
      { role: 'bot', text, state: 'done', meta: '9 tokens', tokens: 9 },
    ]);
    await page.evaluate((value) => sessionStorage.setItem('ssekit-demo-chat', value), stored);
    await page.reload();
    await page.waitForSelector('.msg.bot[data-state="done"]');
    expect(await page.$$eval('.msg.bot code', (codes) => codes.map((c) => c.textContent))).toEqual([
      '<img src=x onerror="window.owned=1">',
      'b',
    ]);
    // The text stays text: no element but the two <code>, the unpaired backtick as written.
    expect(await page.$$eval('.msg.bot .text *', (all) => all.map((e) => e.tagName))).toEqual([
      'CODE',
      'CODE',
    ]);
    expect(await shownText(page)).toBe(
      'Send <img src=x onerror="window.owned=1"> then b and a lone ` tick <b>x</b>',
    );
    expect(await page.evaluate(() => (window as unknown as { owned?: number }).owned)).toBeUndefined();
    await page.close();
  });

  it('chat: once the list scrolls, the last reply and its "N tokens" line are in view', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await page.goto(demo.url);
    await page.evaluate((value) => sessionStorage.setItem('ssekit-demo-chat', value), conversation(6));
    await page.reload();
    await page.fill('#chat-input', 'And the last line?');
    await page.click('#chat-send');
    await page.waitForSelector('.msg.bot[data-state="done"]:last-child', { timeout: 20_000 });
    const [list, note, scrolls] = await page.$eval('#messages', (messages) => {
      const meta = messages.lastElementChild!.querySelector('.meta')!;
      const box = (r: DOMRect) => ({ top: r.top, bottom: r.bottom });
      return [
        box(messages.getBoundingClientRect()),
        box(meta.getBoundingClientRect()),
        messages.scrollHeight > messages.clientHeight,
      ] as const;
    });
    expect(scrolls).toBe(true);
    expect(await page.textContent('.msg.bot:last-child .meta')).toMatch(/^\d+ tokens$/);
    expect(note.top).toBeGreaterThanOrEqual(list.top);
    expect(note.bottom).toBeLessThanOrEqual(list.bottom);
    await page.close();
  });

  /** The mock bot's whole answer to `question` as a page shows it: "You said …" and a canned answer. */
  const isWholeAnswer = (shown: string, question: string) =>
    ANSWERS.some((answer) => shown === rendered(`You said “${question}”. ${answer}`));
  const aiText = (page: Page) => page.$eval('#ai-messages .msg.bot .text', (t) => t.textContent ?? '');

  it('AI SDK chat: a reload mid-reply continues the reply, every word once; one producer', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${demo.url}/ai`);
    expect(await page.getAttribute('nav a[aria-current="page"]', 'data-tab')).toBe('ai');
    // The page resumes on load (`resume: true`): nothing runs in a new chat, 204.
    await expect.poll(() => page.getAttribute('#ai-status', 'data-state')).toBe('idle');
    const startedBefore = await metric(demo.url, 'ssekit_replies_started_total');
    const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/ai/chat'));
    await page.fill('#ai-input', 'Does it survive a reload');
    await page.click('#ai-send');
    const { id } = (await posted).postDataJSON() as { id: string };
    await page.waitForFunction(
      () => (document.querySelector('#ai-messages .msg.bot .text')?.textContent?.length ?? 0) > 40,
    );
    expect(await page.getAttribute('#ai-messages .msg.bot', 'data-state')).toBe('streaming');
    await shot(page, 'ai-streaming');
    const before = await aiText(page);

    const resumed = page.waitForResponse(
      (r) => r.request().method() === 'GET' && r.url().endsWith(`/api/ai/chat/${id}/stream`),
    );
    await page.reload();
    // The AI SDK's resume: a GET of the chat's stream, answered with the reply (not a 204).
    expect((await resumed).status()).toBe(200);
    expect(await page.textContent('#ai-messages .msg.user')).toBe('Does it survive a reload');
    await page.waitForSelector('#ai-messages .msg.bot[data-state="done"]', { timeout: 20_000 });
    const shown = await aiText(page);
    // The whole answer, every word once: what was shown before the reload is where it began.
    expect(isWholeAnswer(shown, 'Does it survive a reload')).toBe(true);
    expect(shown.startsWith(before)).toBe(true);
    expect(await page.locator('#ai-messages .msg.bot').count()).toBe(1);
    expect(await page.getAttribute('#ai-status', 'data-state')).toBe('idle');
    // One producer for the turn: the reload's resume did not start a second one.
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
    expect(await metric(demo.url, 'ssekit_replies_running')).toBe(0);
    await shot(page, 'ai-resumed');

    // Reloaded once the reply is done: the conversation is back as it was, nothing resumes.
    await page.reload();
    await page.waitForSelector('#ai-messages .msg.bot[data-state="done"]');
    expect(await aiText(page)).toBe(shown);
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('AI SDK chat: Stop ends the reply and the server stops the bot (DELETE)', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(`${demo.url}/ai`);
    await expect.poll(() => page.getAttribute('#ai-status', 'data-state')).toBe('idle');
    const startedBefore = await metric(demo.url, 'ssekit_replies_started_total');
    const stoppedBefore = await metric(demo.url, STOPPED);
    await page.fill('#ai-input', 'Stop me');
    await page.click('#ai-send');
    await page.waitForFunction(
      () => (document.querySelector('#ai-messages .msg.bot .text')?.textContent?.length ?? 0) > 20,
    );
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page.click('#ai-stop');
    const answer = await deleted;
    expect(new URL(answer.url()).pathname).toMatch(/^\/api\/ai\/chat\/[^/]+\/stream$/);
    expect(answer.status()).toBe(204);
    await page.waitForSelector('#ai-messages .msg.bot[data-state="stopped"]');
    expect(await page.textContent('#ai-messages .msg.bot .meta')).toBe('stopped');
    await expect.poll(() => page.getAttribute('#ai-status', 'data-state')).toBe('stopped');
    expect(isWholeAnswer(await aiText(page), 'Stop me')).toBe(false);
    // The bot's signal aborted: the server ended the reply as stopped, and nothing runs.
    await expect.poll(() => metric(demo.url, STOPPED)).toBe(stoppedBefore + 1);
    expect(await metric(demo.url, 'ssekit_replies_running')).toBe(0);
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
    expect(await page.isDisabled('#ai-stop')).toBe(true);
    expect(await page.isEnabled('#ai-send')).toBe(true);
    await shot(page, 'ai-stopped');
    // A reload after the stop: nothing to resume (204), the stopped reply stays as it was.
    const text = await aiText(page);
    await page.reload();
    await page.waitForSelector('#ai-messages .msg.bot[data-state="stopped"]');
    expect(await aiText(page)).toBe(text);
    expect(await metric(demo.url, 'ssekit_replies_started_total')).toBe(startedBefore + 1);
    await page.close();
  });

  it('AI SDK chat: a partial reply with nothing left to resume (204) stays, with a note', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(`${demo.url}/ai`);
    // A tab that went away mid-reply, the reply since ended: the server has nothing for the chat.
    const stored = JSON.stringify({
      id: 'gone-chat',
      messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Hi' }] }],
      partial: { id: 'a1', role: 'assistant', parts: [{ type: 'text', text: 'Half of `a` reply' }] },
      notes: {},
    });
    await page.evaluate((value) => sessionStorage.setItem('ssekit-demo-ai-chat', value), stored);
    const resumed = page.waitForResponse((r) => r.url().endsWith('/api/ai/chat/gone-chat/stream'));
    await page.reload();
    expect((await resumed).status()).toBe(204);
    await page.waitForSelector('#ai-messages .msg.bot[data-state="error"]');
    expect(await aiText(page)).toBe('Half of a reply');
    expect(await page.textContent('#ai-messages .msg.bot .meta')).toBe(
      'interrupted: the reply ended while the page was away',
    );
    expect(await page.getAttribute('#ai-status', 'data-state')).toBe('idle');
    await page.close();
  });

  it('feed: shows published events and resumes across a server restart with nothing missing', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(`${demo.url}/feed`);
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
    const ids: string[] = [];
    await page.fill('#feed-input', 'from the page');
    await page.press('#feed-input', 'Enter');
    await page.waitForSelector('#events li');
    ids.push((await page.getAttribute('#events li', 'data-id'))!);
    ids.push(await publish(demo.url, 'from a script'));
    await expect.poll(() => page.locator('#events li').count()).toBe(2);
    await shot(page, 'feed-live');

    const port = new URL(demo.url).port;
    await demo.stop();
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('reconnecting');
    await shot(page, 'feed-reconnecting');
    demo = await startDemo(Number(port));
    // Published before the page is back (its retry hint is 1.5 s or more): it must replay them.
    for (const n of [1, 2, 3]) ids.push(await publish(demo.url, `missed ${n}`));
    await expect.poll(() => page.locator('#events li').count(), { timeout: 15_000 }).toBe(5);
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
    const shown = await page.$$eval('#events li', (rows) =>
      rows.map((r) => r.getAttribute('data-id')).reverse(),
    );
    expect(shown).toEqual(ids);
    expect(await page.textContent('#feed-notice')).not.toBe('');
    await shot(page, 'feed-resumed');
    await page.close();
  });

  it('feed: a page opened on a topic with history shows its last 20 events, then live ones, each once', async () => {
    const topic = 'with-history';
    const ids: string[] = [];
    for (let n = 1; n <= 23; n++) ids.push(await publish(demo.url, `old ${n}`, topic));
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(`${demo.url}/feed?topic=${topic}`);
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
    const shown = () =>
      page.$$eval('#events li', (rows) => rows.map((r) => r.getAttribute('data-id')).reverse());
    // Read once the stream is open.
    await expect.poll(shown).toEqual(ids.slice(-20));
    expect(await page.textContent('#feed-count')).toBe('20 events');
    expect(await page.textContent('#feed-notice')).toBe('');
    ids.push(await publish(demo.url, 'new', topic));
    await expect.poll(() => page.locator('#events li').count()).toBe(21);
    expect(await shown()).toEqual(ids.slice(-21));
    await page.close();
  });

  it('feed and dashboard share their streams across tabs: one subscriber per browser, not per tab', async () => {
    // One browser (one context: tabs of one origin share Web Locks and BroadcastChannel).
    const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
    try {
      const subscribers = () => metric(demo.url, 'ssekit_hub_subscribers');
      await expect.poll(subscribers).toBe(0);
      const feeds: Page[] = [];
      for (let i = 0; i < 3; i++) {
        const page = await context.newPage();
        await page.goto(`${demo.url}/feed?topic=shared`);
        await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
        feeds.push(page);
      }
      // Three tabs of the feed: one subscriber at the hub, and every tab shows every event.
      expect(await subscribers()).toBe(1);
      const id = await publish(demo.url, 'to every tab', 'shared');
      for (const page of feeds) {
        await expect.poll(() => page.getAttribute('#events li', 'data-id')).toBe(id);
      }
      // Two dashboards besides: the feed's subscriber and the dashboards' one, on "load".
      const dashboards: Page[] = [];
      for (let i = 0; i < 2; i++) {
        const page = await context.newPage();
        await page.goto(`${demo.url}/dashboard`);
        await expect.poll(() => page.getAttribute('#dash-status', 'data-state')).toBe('live');
        dashboards.push(page);
      }
      for (const page of dashboards) {
        await expect.poll(async () => Number(await page.textContent('#stat-subscribers'))).toBe(2);
      }
      expect(await subscribers()).toBe(2);
      // The tab that holds the feed's connection goes: another takes it over, still one.
      await feeds.shift()!.close();
      const next = await publish(demo.url, 'after the hand-over', 'shared');
      for (const page of feeds) {
        await expect.poll(() => page.getAttribute('#events li', 'data-id')).toBe(next);
      }
      await expect.poll(subscribers).toBe(2);
      await shot(dashboards[0]!, 'dashboard-shared');
    } finally {
      await context.close();
    }
  });

  it('feed: a failed publish keeps the text; the hint is a command that works in the clone', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await page.goto(`${demo.url}/feed`);
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
    await page.route('**/hub', (route) =>
      route.request().method() === 'POST' ? route.fulfill({ status: 503, body: 'down' }) : route.fallback(),
    );
    await page.fill('#feed-input', 'keep me');
    await page.press('#feed-input', 'Enter');
    await expect
      .poll(() => page.textContent('#feed-notice'))
      .toMatch(/^Publish failed \(the server answered 503\)/);
    expect(await page.inputValue('#feed-input')).toBe('keep me');
    await page.unroute('**/hub');
    const rows = await page.locator('#events li').count();
    await page.press('#feed-input', 'Enter');
    await expect.poll(() => page.locator('#events li').count()).toBe(rows + 1);
    expect(await page.textContent('#events li .data')).toBe('keep me');
    expect(await page.inputValue('#feed-input')).toBe('');
    expect(await page.textContent('#feed-notice')).toBe('');

    // The shell hint, run as written from the clone, publishes to this page.
    const hint = (await page.textContent('.lede code'))!;
    expect(hint).toBe(`npx ssekit publish ${demo.url}/hub feed "hello"`);
    const args = hint.match(/"[^"]*"|\S+/g)!.map((arg) => arg.replace(/^"(.*)"$/, '$1'));
    const ran = spawnSync(args[0]!, ['--offline', ...args.slice(1)], { encoding: 'utf8', timeout: 30_000 });
    expect(ran.status, ran.stderr).toBe(0);
    await expect.poll(() => page.textContent('#events li .data')).toBe('hello');
    expect(await page.textContent('#events li .tag')).toBe('message');
    await page.close();
  });

  it.skipIf(!redis)(
    'feed with REDIS_URL set: history lives in Redis and the page resumes across a restart',
    async () => {
      const env = { REDIS_URL, DEMO_REDIS_PREFIX: redisPrefix };
      let onRedis = await startDemo(0, env);
      try {
        expect(onRedis.log()).toContain(`feed history: Redis at ${REDIS_URL}`);
        const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
        await page.goto(`${onRedis.url}/feed`);
        await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
        const ids = [await publish(onRedis.url, 'before the restart')];
        await expect.poll(() => page.locator('#events li').count()).toBe(1);
        const port = new URL(onRedis.url).port;
        await onRedis.stop();
        await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('reconnecting');
        onRedis = await startDemo(Number(port), env);
        for (const n of [1, 2]) ids.push(await publish(onRedis.url, `missed ${n}`));
        await expect.poll(() => page.locator('#events li').count(), { timeout: 15_000 }).toBe(3);
        const shown = await page.$$eval('#events li', (rows) =>
          rows.map((r) => r.getAttribute('data-id')).reverse(),
        );
        expect(shown).toEqual(ids);
        await shot(page, 'feed-redis-resumed');
        await page.close();
      } finally {
        await onRedis.stop();
      }
    },
  );

  it('dashboard: the first burst, with nobody else subscribed, moves the figures and the chart', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    await page.goto(`${demo.url}/dashboard`);
    await expect.poll(() => page.getAttribute('#dash-status', 'data-state')).toBe('live');
    // The page's own subscription to the burst's topic (the stats stream is not the hub's).
    await expect
      .poll(async () => Number(await page.textContent('#stat-subscribers')), { timeout: 5000 })
      .toBe(1);
    const number = async (selector: string) => Number((await page.textContent(selector))!.replace(/,/g, ''));
    const delivered = await number('#stat-delivered');
    expect(await number('#stat-rate')).toBe(0);
    await page.click('#burst');
    await expect.poll(() => number('#stat-rate'), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect
      .poll(() => number('#stat-delivered'), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(delivered + 200);
    await expect
      .poll(() => page.textContent('#burst-received'), { timeout: 10_000 })
      .toContain('received 200 events');
    // The chart's data rose off the floor.
    expect(Number(await page.getAttribute('#chart', 'data-peak'))).toBeGreaterThan(0);
    await page.close();
  });

  it('dashboard: the hub figures arrive over SSE and change', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    await page.goto(`${demo.url}/dashboard`);
    await expect.poll(() => page.getAttribute('#dash-status', 'data-state')).toBe('live');
    await page.waitForFunction(() => document.querySelector('#stat-published')?.textContent !== '–');
    const before = Number((await page.textContent('#stat-published'))!.replace(/,/g, ''));
    await page.click('#subscribe');
    await page.click('#burst');
    await expect
      .poll(async () => Number((await page.textContent('#stat-published'))!.replace(/,/g, '')), {
        timeout: 10_000,
      })
      .toBe(before + 200);
    await expect
      .poll(async () => Number(await page.textContent('#stat-subscribers')))
      .toBeGreaterThanOrEqual(3);
    await page.click('#slow');
    await expect.poll(async () => Number(await page.textContent('#stat-slow'))).toBeGreaterThanOrEqual(1);
    const samples = Number(await page.getAttribute('#chart', 'data-samples'));
    await page.click('#burst');
    // A few more stats samples, so the chart in the screenshot shows the burst.
    await page.waitForFunction(
      (n) => Number(document.querySelector('#chart')?.getAttribute('data-samples')) >= n + 3,
      samples,
    );
    await shot(page, 'dashboard');
    await page.close();
  });

  it('on a phone (390 x 844) no page scrolls sideways and every control is on screen', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await page.goto(demo.url);
    await page.evaluate((value) => sessionStorage.setItem('ssekit-demo-chat', value), conversation(2));
    await page.reload();
    await page.waitForSelector('.msg.bot[data-state="done"]');
    expect(await phoneProblems(page, ['#chat-input', '#chat-send', '#chat-stop'])).toEqual([]);
    await shot(page, 'chat-phone');

    await page.goto(`${demo.url}/ai`);
    await page.fill('#ai-input', 'And on a phone?');
    await page.click('#ai-send');
    await page.waitForSelector('#ai-messages .msg.bot[data-state="done"]', { timeout: 20_000 });
    expect(await phoneProblems(page, ['#ai-input', '#ai-send', '#ai-stop'])).toEqual([]);
    await shot(page, 'ai-phone');

    await publish(
      demo.url,
      'A long line from a phone, with a URL that does not break: https://example.com/a/very/long/path/that/goes/on/and/on',
    );
    await page.goto(`${demo.url}/feed`);
    await expect.poll(() => page.getAttribute('#feed-status', 'data-state')).toBe('live');
    await page.waitForSelector('#events li');
    expect(await phoneProblems(page, ['#feed-input', '#feed-publish'])).toEqual([]);
    await shot(page, 'feed-phone');

    await page.goto(`${demo.url}/dashboard`);
    await expect.poll(() => page.getAttribute('#dash-status', 'data-state')).toBe('live');
    await page.click('#burst');
    await expect
      .poll(() => page.textContent('#burst-received'), { timeout: 10_000 })
      .toContain('received 200 events');
    expect(await phoneProblems(page, ['#burst', '#slow', '#subscribe', '#chart'])).toEqual([]);
    await shot(page, 'dashboard-phone');
    await page.close();
  });
});

describe.skipIf(!redis)('chat with REDIS_URL set: two demo servers share the replies', () => {
  it('a reply started on one is resumed (GET, Last-Event-ID) and stopped (DELETE) on the other', async () => {
    const env = { REDIS_URL, DEMO_REDIS_PREFIX: redisPrefix };
    const a = await startDemo(0, env);
    const b = await startDemo(0, env).catch(async (error) => {
      await a.stop();
      throw error;
    });
    try {
      expect(a.log()).toContain(`chat replies: Redis at ${REDIS_URL}`);
      const posted = await chat(a.url, 'Two servers?');
      const location = posted.headers.get('content-location')!;
      const seen = (await posted.take(3)).slice(0, 3);
      posted.disconnect();

      const resumed = await request(new URL(location, b.url).href, {
        headers: { 'last-event-id': seen.at(-1)!.id },
      });
      expect(resumed.status).toBe(200);
      const next = (await resumed.take(2)).slice(0, 2);
      expect(next.map((e) => e.event)).toEqual(['token', 'token']);
      // Where it was: the ids go on after the last one seen on the first server.
      expect(compareStreamIds(next[0]!.id, seen.at(-1)!.id)).toBeGreaterThan(0);
      expect(textOf(seen) + textOf(next)).toBe(
        textOf((await (await request(new URL(location, b.url).href)).take(5)).slice(0, 5)),
      );

      expect((await fetch(new URL(location, b.url), { method: 'DELETE' })).status).toBe(204);
      expect((await resumed.rest()).at(-1)).toMatchObject({ event: 'end', data: '{"reason":"stopped"}' });
      // The producer ran on the first server, and its signal aborted there.
      await a.waitLog('chat #1: reply stopped after');
      expect(await metric(a.url, 'ssekit_replies_started_total')).toBe(1);
      expect(await metric(a.url, 'ssekit_replies_running')).toBe(0);
      expect(await metric(a.url, STOPPED)).toBe(1);
      expect(await metric(b.url, 'ssekit_replies_started_total')).toBe(0);
      expect(b.log()).not.toContain('chat #');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
