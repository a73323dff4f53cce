/**
 * Browser authentication across origins, in Chromium: a page on http://localhost:A subscribes
 * with the browser's own `EventSource` (`withCredentials: true`) to `ssekit serve --jwt-secret`
 * on http://localhost:B. An EventSource sets no headers, so the HttpOnly cookie the hub's host
 * set is its only credential, and the browser hands the answer to the page only with
 * `Access-Control-Allow-Credentials: true` and the page's origin echoed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { type Run, run } from './run.js';

const available = chromiumAvailable('serve browser tests');
const SECRET = 'b'.repeat(32);

const token = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT({ ssekit: claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<script>
  // Opens a credentialed EventSource; resolves 'open', or 'refused' once the browser gives up.
  window.subscribe = (url) => new Promise((resolve) => {
    const source = new EventSource(url, { withCredentials: true });
    window.source = source;
    window.received = new Promise((got) => source.addEventListener('message', (e) => got(e.data)));
    const bound = setTimeout(() => resolve('timeout'), 10000);
    source.onopen = () => { clearTimeout(bound); resolve('open'); };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) { clearTimeout(bound); resolve('refused'); }
    };
  });
</script>`;

/** What PAGE puts on `window`. */
interface AppWindow {
  subscribe(url: string): Promise<'open' | 'refused' | 'timeout'>;
  received: Promise<string>;
  source: EventSource;
}

describe.skipIf(!available)('serve: a cross-origin page subscribes with its cookie, in Chromium', () => {
  let browser: Browser;
  let app: Server;
  let appOrigin: string;
  const hubs: Run[] = [];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    app = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appOrigin = `http://localhost:${(app.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
    for (const hub of hubs.splice(0)) {
      hub.child.kill('SIGTERM');
      await hub.exited;
    }
  });

  afterAll(async () => {
    await browser?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
  });

  /** Starts a hub; its URL on `localhost` (another port: another origin, the same site). */
  async function hub(cors: string): Promise<{ url: string; port: number }> {
    const cli = run(['serve', '--port', '0', '--jwt-secret', SECRET, '--cors', cors]);
    hubs.push(cli);
    const text = await cli.waitFor('stderr', /listening on (http:\S+)/);
    const port = Number(new URL(text.match(/listening on (http:\S+)/)![1]!).port);
    return { url: `http://localhost:${port}`, port };
  }

  /**
   * A browser whose cookie jar holds what the app's login would have set on the hub's host:
   * ssekit_token, HttpOnly, SameSite=Lax (cookies ignore ports, so localhost:A and localhost:B
   * are the same site and the cookie goes along).
   */
  async function pageWithCookie(hubUrl: string) {
    const context = await browser.newContext();
    contexts.push(context);
    await context.addCookies([
      {
        name: 'ssekit_token',
        value: await token({ subscribe: ['news'] }),
        url: hubUrl,
        httpOnly: true,
        sameSite: 'Lax',
      },
    ]);
    const page = await context.newPage();
    await page.goto(`${appOrigin}/`);
    return page;
  }

  it('a listed origin: the stream opens with the cookie and a published event arrives', async () => {
    const { url, port } = await hub(appOrigin);
    const page = await pageWithCookie(url);
    expect(
      await page.evaluate((u) => (window as unknown as AppWindow).subscribe(u), `${url}/?topic=news`),
    ).toBe('open');

    const publish = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await token({ publish: ['news'] })}`,
      },
      body: JSON.stringify({ topic: 'news', data: 'hello, other origin' }),
    });
    expect(publish.status).toBe(200);
    expect(await page.evaluate(() => (window as unknown as AppWindow).received)).toBe('hello, other origin');
    await page.evaluate(() => (window as unknown as AppWindow).source.close());
  });

  it('with --cors *, no credentials are allowed, so the browser refuses the same stream', async () => {
    const { url } = await hub('*');
    const page = await pageWithCookie(url);
    expect(
      await page.evaluate((u) => (window as unknown as AppWindow).subscribe(u), `${url}/?topic=news`),
    ).toBe('refused');
  });
});
