/**
 * The Next.js proof, end to end: `next build && next start` (production, compression on), a
 * real Chromium on the chat page, for both routers:
 * - the first character of the reply reaches the page long before the last (time to first
 *   event under a fifth of the stream's duration), so nothing buffers the stream;
 * - Stop on the page makes the server-side producer stop.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SSE_HEADERS } from '../../src/server/index.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));
const appDir = fileURLToPath(new URL('../../examples/next', import.meta.url));
const nextBin = fileURLToPath(new URL('../../node_modules/next/dist/bin/next', import.meta.url));
const required = Boolean(process.env.SSEKIT_REQUIRE_SERVICES);
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  if (required) throw new Error(`SSEKIT_REQUIRE_SERVICES is set but ${CHROMIUM} is missing`);
  console.warn(
    `SKIPPED: the Next.js end-to-end test needs Chromium at ${CHROMIUM} (apt-get install chromium)`,
  );
}

const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', BOT_DELAY_MS: '30' };

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Stats {
  started: number;
  active: number;
  finished: number;
  stopped: number;
  produced: number;
}

describe.skipIf(!haveChromium)('Next.js example (next build && next start, Chromium)', () => {
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let url = '';

  const stats = async (): Promise<Stats> => (await (await fetch(`${url}/api/stats`)).json()) as Stats;

  beforeAll(async () => {
    // The example imports the built package (dist/), then Next builds for production.
    run(
      process.execPath,
      [fileURLToPath(new URL('../../node_modules/tsup/dist/cli-default.js', import.meta.url))],
      root,
    );
    run(process.execPath, [nextBin, 'build'], appDir);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [nextBin, 'start', '-H', '127.0.0.1', '-p', String(port)], {
      cwd: appDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    let log = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    await vi.waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`next start exited:\n${log}`);
        const response = await fetch(`${url}/api/stats`);
        expect(response.status).toBe(200);
      },
      { timeout: 60_000, interval: 250 },
    );
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  });

  async function openChat(router: 'app' | 'pages'): Promise<Page> {
    const page = await browser!.newPage();
    await page.goto(url);
    if (router === 'pages') await page.getByTestId('pages-router').check();
    return page;
  }

  it('the page is served compressed (compression is on)', async () => {
    const response = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    await response.text();
  });

  it.each(['/api/chat', '/api/pages-chat'])('%s answers with the SSE headers, uncompressed', async (path) => {
    const client = new AbortController();
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: JSON.stringify({ message: 'headers' }),
      signal: client.signal,
    });
    expect(response.status).toBe(200);
    for (const [name, value] of Object.entries(SSE_HEADERS)) expect(response.headers.get(name)).toBe(value);
    expect(response.headers.get('content-encoding')).toBeNull();
    client.abort();
    const bad = await fetch(`${url}${path}`, { method: 'POST', body: '{"message":42}' });
    expect(bad.status).toBe(400);
    await bad.body?.cancel();
  });

  it.each(['app', 'pages'] as const)(
    '%s router: the first event arrives long before the last',
    async (router) => {
      const page = await openChat(router);
      try {
        await page.getByTestId('send').click();
        const reply = page.getByTestId('reply');
        await expect.poll(() => reply.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
        const first = Number(await reply.getAttribute('data-first-ms'));
        const last = Number(await reply.getAttribute('data-last-ms'));
        const events = Number(await reply.getAttribute('data-events'));
        const text = (await reply.textContent()) ?? '';
        expect(text.startsWith('You said "hello".')).toBe(true);
        expect(events).toBe([...text].length);
        expect(first).toBeGreaterThan(0);
        expect(first).toBeLessThan(last / 5);
      } finally {
        await page.close();
      }
    },
  );

  it.each(['app', 'pages'] as const)(
    '%s router: Stop on the page stops the server-side producer',
    async (router) => {
      const before = await stats();
      const page = await openChat(router);
      try {
        await page.getByTestId('send').click();
        const reply = page.getByTestId('reply');
        await expect
          .poll(async () => Number(await reply.getAttribute('data-events')), { timeout: 30_000 })
          .toBeGreaterThan(5);
        await page.getByTestId('stop').click();
        await expect.poll(() => reply.getAttribute('data-state')).toBe('stopped');
        await vi.waitFor(
          async () => {
            const now = await stats();
            expect(now.active).toBe(0);
            expect(now.stopped).toBe(before.stopped + 1);
          },
          { timeout: 10_000, interval: 50 },
        );
        const after = await stats();
        expect(after.finished).toBe(before.finished);
        // Stopped mid-reply: far fewer characters were produced than a full reply has.
        expect(after.produced - before.produced).toBeLessThan(100);
      } finally {
        await page.close();
      }
    },
  );
});
