/**
 * Reconnect when the network returns (#16), in Chromium (playwright-core): the page goes
 * offline (the context's network emulation, which fires `offline` and `online` on the window
 * as a real outage does), its stream ends, and the next attempt would come a minute later (the
 * server's `retry: 60000`). Back online, `connect()` and ssekit's `EventSource` reconnect at
 * once, with `Last-Event-ID`: the test's timeout is far below a minute, and the page's own
 * record puts the new stream right after `online`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser } from '../helpers/bundle.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';

const available = chromiumAvailable('client online tests');

const PAGE = `<!doctype html><meta charset="utf-8"><title>ssekit</title>
<script type="module">
  import * as ssekit from '/ssekit-client.js';
  window.log = [];
  addEventListener('offline', () => log.push('offline'));
  addEventListener('online', () => log.push('online'));
  // Opens a stream with connect() or EventSource and records it in window.log.
  window.start = (kind, url) => {
    if (kind === 'connect') {
      const connection = ssekit.connect(url, {
        onOpen: () => log.push('open'),
        onEvent: (e) => log.push('event ' + e.data + ' ' + e.id),
        onReconnect: (delay) => log.push('reconnect ' + delay),
      });
      window.stop = () => connection.close();
    } else {
      const source = new ssekit.EventSource(url);
      source.onopen = () => log.push('open');
      source.onmessage = (e) => log.push('event ' + e.data + ' ' + e.lastEventId);
      source.onerror = () => log.push('error ' + source.readyState);
      window.stop = () => source.close();
    }
  };
  window.ready = true;
</script>`;

describe.skipIf(!available)('in Chromium: back online, the stream reconnects at once', () => {
  let browser: Browser;
  let base: string;
  let server: ReturnType<typeof createServer>;
  // The open streams, per path, and the Last-Event-ID of every request.
  const streams = new Map<string, ServerResponse[]>();
  const lastIds = new Map<string, (string | undefined)[]>();
  let code: string;

  beforeAll(async () => {
    code = await bundleForBrowser(fileURLToPath(new URL('../../src/client/index.ts', import.meta.url)));
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else if (url.pathname === '/ssekit-client.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(code);
      } else if (url.pathname.startsWith('/sse/')) {
        const path = url.pathname;
        const ids = [...(lastIds.get(path) ?? []), req.headers['last-event-id'] as string | undefined];
        lastIds.set(path, ids);
        streams.set(path, [...(streams.get(path) ?? []), res]);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        // A minute before any reconnection: only `online` can bring the next request sooner.
        res.write(`retry: 60000\nid: ${ids.length}\ndata: n${ids.length}\n\n`);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const log = (page: Page) => page.evaluate(() => (window as unknown as { log: string[] }).log);

  it.each(['connect', 'EventSource'])('%s', async (kind) => {
    const context: BrowserContext = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await page.waitForFunction(() => 'ready' in window);
      const path = `/sse/${kind}`;
      await page.evaluate(
        ([kind, path]) => (window as unknown as { start(k: string, u: string): void }).start(kind!, path!),
        [kind, path],
      );
      await expect.poll(() => log(page)).toEqual(['open', 'event n1 1']);

      // The network goes away, and with it the stream.
      await context.setOffline(true);
      streams.get(path)![0]!.destroy();
      const waiting = kind === 'connect' ? 'reconnect 60000' : 'error 0';
      await expect.poll(() => log(page)).toEqual(['open', 'event n1 1', 'offline', waiting]);
      // Offline, with a minute to wait: nothing is asked of the server.
      expect(lastIds.get(path)).toHaveLength(1);

      // It comes back: a new stream at once, resumed from the last event.
      await context.setOffline(false);
      await expect
        .poll(() => log(page), { timeout: 10_000 })
        .toEqual(['open', 'event n1 1', 'offline', waiting, 'online', 'open', 'event n2 2']);
      expect(lastIds.get(path)).toEqual([undefined, '1']);
      await page.evaluate(() => (window as unknown as { stop(): void }).stop());
    } finally {
      await context.close();
    }
  });
});
