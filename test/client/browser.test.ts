/**
 * In a real browser (Debian's Chromium driven by playwright-core): `connect` streams a POST
 * reply into a page and into a module worker, and ssekit's EventSource and the browser's own
 * subscribe to the same GET scenarios and must record identical sequences.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser } from '../helpers/bundle.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';

const available = chromiumAvailable('client browser tests');

/** What each GET scenario sends on its n-th connection (per client, so both see the same). */
const scenarios: Record<string, (res: ServerResponse, n: number, lastEventId: string | undefined) => void> = {
  events(res) {
    stream(
      res,
      'data: one\n\ndata: two\ndata: lines\n\n: a comment\n\ndata\n\ndata:no space\n\ndata: done\n\n',
    );
  },
  named(res) {
    stream(
      res,
      'event: foo\ndata: f\n\nevent: bar\ndata: b\n\ndata: plain\n\nevent\ndata: empty type\n\nevent: done\ndata: x\n\n',
    );
  },
  ids(res) {
    stream(
      res,
      '\uFEFFid: 1\ndata: a\n\ndata: b\n\nid: ünï✓\r\ndata: c\r\n\r\nid\ndata: d\n\nid: bad\0id\ndata: e\n\nid: 9\n\ndata: done\n\n',
    );
  },
  reconnect(res, n, lastEventId) {
    if (n === 1) stream(res, 'retry: 10\nid: ünï✓\ndata: first\n\ndata: partial', true);
    else if (n === 2) stream(res, `data: got ${lastEventId}\n\n`, true);
    else if (n === 3) stream(res, 'retry: 10\n\n', true);
    else {
      res.writeHead(204);
      res.end();
    }
  },
  '204'(res) {
    res.writeHead(204);
    res.end();
  },
  'wrong-type'(res) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('data: not for you\n\n');
  },
  '500'(res) {
    res.writeHead(500, { 'content-type': 'text/event-stream' });
    res.end('data: error page\n\n');
  },
  // A stream that ends after setting a small reconnection time: the next request comes that
  // long after, with no backoff and no jitter on top.
  'retry-delay'(res, n) {
    if (n === 1) stream(res, 'retry: 0300\ndata: first\n\n', true);
    else stream(res, 'data: done\n\n');
  },
  charset(res) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write('data: with a charset parameter\n\nevent: done\ndata: x\n\n');
  },
};

function stream(res: ServerResponse, text: string, end = false): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (end) res.end(text);
  else res.write(text);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>ssekit</title><div id="out"></div>
<script type="module">
  import * as ssekit from '/ssekit-client.js';
  window.ssekit = ssekit;
  // Records what a page sees, until the source is closed for good, a 'done' event, or a bound.
  window.record = (native, url) => new Promise((resolve) => {
    const Source = native ? window.EventSource : ssekit.EventSource;
    const source = new Source(url);
    const log = [];
    const finish = (why) => { source.close(); resolve({ log, why }); };
    const bound = setTimeout(() => finish('timeout'), 10000);
    const end = (why) => { clearTimeout(bound); finish(why); };
    source.onopen = () => log.push(['open', source.readyState]);
    source.onerror = () => {
      log.push(['error', source.readyState]);
      if (source.readyState === 2) end('closed');
    };
    const onMessage = (e) => {
      log.push([e.type, e.data, e.lastEventId, e.origin === location.origin, source.readyState]);
      if (e.type === 'done' || e.data === 'done') end('done');
    };
    for (const type of ['message', 'foo', 'bar', 'done']) source.addEventListener(type, onMessage);
  });
</script>`;

// A module worker (no `document`: relative URLs resolve against the worker's `location`) that
// imports the bundle, streams a POST reply and a GET that reconnects with Last-Event-ID until a
// 204, and posts back what it saw.
const WORKER = `import { connect } from '/ssekit-client.js';
const events = async (url, init) => {
  const log = [];
  try {
    for await (const e of connect(url, init)) log.push([e.event, e.data, e.id]);
    return { log, end: 'closed' };
  } catch (error) {
    return { log, end: error.name };
  }
};
postMessage({
  hasDocument: typeof document !== 'undefined',
  chat: await events('/chat', {
    method: 'POST',
    headers: { authorization: 'Bearer let-me-in' },
    body: JSON.stringify({ prompt: 'worker' }),
    reconnect: false,
  }),
  refused: await events('/chat', { method: 'POST', body: '{"prompt":"x"}', reconnect: false }),
  // pauseWhenHidden needs a document: in a worker it is ignored, not an error.
  resumed: await events('/sse/reconnect?client=worker', { pauseWhenHidden: true }),
});
`;

describe.skipIf(!available)('in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let base: string;
  let server: ReturnType<typeof createServer>;
  const connections = new Map<string, number>();
  // When each connection of a scenario came, per client, in ms (performance.now()).
  const arrivals = new Map<string, number[]>();

  beforeAll(async () => {
    const code = await bundleForBrowser(fileURLToPath(new URL('../../src/client/index.ts', import.meta.url)));
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else if (url.pathname === '/worker.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(WORKER);
      } else if (url.pathname === '/ssekit-client.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(code);
      } else if (url.pathname.startsWith('/sse/')) {
        const name = url.pathname.slice(5);
        const key = `${name}:${url.searchParams.get('client')}`;
        const n = (connections.get(key) ?? 0) + 1;
        connections.set(key, n);
        arrivals.set(key, [...(arrivals.get(key) ?? []), performance.now()]);
        const raw = req.headers['last-event-id'];
        const lastEventId =
          raw === undefined ? undefined : Buffer.from(String(raw), 'latin1').toString('utf8');
        scenarios[name]!(res, n, lastEventId);
      } else if (url.pathname === '/chat' && req.method === 'POST') {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk) => (body += chunk));
        req.on('end', async () => {
          const { prompt } = JSON.parse(body) as { prompt: string };
          if (req.headers.authorization !== 'Bearer let-me-in') {
            res.writeHead(401);
            res.end();
            return;
          }
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          for (const token of `You said: ${prompt}. Bye ✓`.split(/(?= )/)) {
            await new Promise<void>((resolve) =>
              res.write(`event: token\ndata: ${token}\n\n`, () => resolve()),
            );
          }
          res.end('event: end\ndata: \n\n');
        });
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${base}/`);
    await page.waitForFunction(() => 'ssekit' in window);
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('connect() streams a POST reply into the page', async () => {
    const result = await page.evaluate(async () => {
      const { connect } = (window as unknown as { ssekit: typeof import('../../src/client/index.js') })
        .ssekit;
      const out = document.getElementById('out')!;
      const types: string[] = [];
      for await (const event of connect('/chat', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer let-me-in' },
        body: JSON.stringify({ prompt: 'héllo' }),
        reconnect: false,
      })) {
        types.push(event.event);
        if (event.event === 'token') out.textContent += event.data;
      }
      let refused = '';
      try {
        for await (const _ of connect('/chat', { method: 'POST', body: '{"prompt":"x"}', reconnect: false }));
      } catch (error) {
        refused = `${(error as Error).name} ${(error as { status?: number }).status}`;
      }
      return { text: out.textContent, types: [...new Set(types)], refused };
    });
    expect(result).toEqual({
      text: 'You said: héllo. Bye ✓',
      types: ['token', 'end'],
      refused: 'HttpError 401',
    });
  });

  it('connect() works in a module worker', async () => {
    const result = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker('/worker.js', { type: 'module' });
          const bound = setTimeout(() => reject(new Error('worker: no answer in 10 s')), 10000);
          worker.onmessage = (e) => {
            clearTimeout(bound);
            worker.terminate();
            resolve(e.data);
          };
          worker.onerror = (e) => {
            clearTimeout(bound);
            reject(new Error(`worker: ${e.message}`));
          };
        }),
    );
    const tokens = 'You said: worker. Bye ✓'.split(/(?= )/).map((t) => ['token', t, '']);
    expect(result).toEqual({
      hasDocument: false,
      chat: { log: [...tokens, ['end', '', '']], end: 'closed' },
      refused: { log: [], end: 'HttpError' },
      resumed: {
        log: [
          ['message', 'first', 'ünï✓'],
          ['message', 'got ünï✓', 'ünï✓'],
        ],
        end: 'closed',
      },
    });
  });

  it.each(Object.keys(scenarios))(
    'scenario %s: ssekit EventSource records what the native one does',
    async (name) => {
      const run = (native: boolean) =>
        page.evaluate(
          ([native, url]) =>
            (window as unknown as { record(n: boolean, u: string): Promise<unknown> }).record(native, url),
          [native, `/sse/${name}?client=${native ? 'native' : 'ssekit'}`] as const,
        );
      const native = await run(true);
      const ours = await run(false);
      expect(native).not.toMatchObject({ why: 'timeout' });
      expect(ours).toEqual(native);
    },
  );

  it('the interface has the shape of the native one: constants, accessors, toStringTag', async () => {
    const shapes = await page.evaluate(() => {
      const ssekit = (window as unknown as { ssekit: { EventSource: typeof EventSource } }).ssekit;
      const shape = (Source: typeof EventSource) => {
        const describe = (target: object) =>
          Object.fromEntries(
            Reflect.ownKeys(target)
              .filter((key) => !['constructor', 'length', 'name', 'prototype'].includes(key as string))
              .map((key) => {
                const d = Object.getOwnPropertyDescriptor(target, key)!;
                return [
                  String(key),
                  {
                    value: typeof d.value === 'function' ? 'function' : d.value,
                    writable: d.writable,
                    enumerable: d.enumerable,
                    configurable: d.configurable,
                    get: typeof d.get,
                    set: typeof d.set,
                  },
                ];
              }),
          );
        const source = new Source('/sse/204?client=shape');
        const own = Reflect.ownKeys(source).map(String);
        const tag = Object.prototype.toString.call(source);
        // Read-only: assigning in sloppy mode is ignored, in strict mode a TypeError.
        const writes = (['url', 'readyState', 'withCredentials', 'CLOSED'] as const).map((key) => {
          try {
            (source as unknown as Record<string, unknown>)[key] = 7;
            return [key, 'assigned', (source as unknown as Record<string, unknown>)[key]];
          } catch (error) {
            return [key, (error as Error).name];
          }
        });
        source.close();
        return {
          statics: describe(Source),
          proto: describe(Source.prototype),
          own,
          tag,
          writes,
          length: Source.length,
        };
      };
      return { native: shape(window.EventSource), ours: shape(ssekit.EventSource) };
    });
    expect(shapes.native.statics).toMatchObject({ CLOSED: { value: 2, writable: false } });
    expect(shapes.native.tag).toBe('[object EventSource]');
    expect(shapes.ours).toEqual(shapes.native);
  });

  it.each([
    'ftp://127.0.0.1/x',
    'about:blank',
    'mailto:someone@example.com',
    'javascript:void 0',
    'file:///etc/hostname',
  ])(
    'a URL the browser cannot stream from (%s) fails the connection, as the native one does',
    async (url) => {
      const run = (native: boolean) =>
        page.evaluate(
          ([native, url]) =>
            (window as unknown as { record(n: boolean, u: string): Promise<unknown> }).record(native, url),
          [native, url] as const,
        );
      const native = await run(true);
      expect(native).toEqual({ log: [['error', 2]], why: 'closed' });
      expect(await run(false)).toEqual(native);
    },
  );

  it('after a stream ends, the reconnection waits the retry: time, exactly (no backoff, no jitter)', async () => {
    const delays = await page.evaluate(async () => {
      // The delays ssekit asks of the scheduler while it records the scenario.
      const asked: number[] = [];
      const original = window.setTimeout;
      window.setTimeout = ((handler: TimerHandler, ms?: number, ...rest: unknown[]) => {
        if (ms !== 10000) asked.push(ms ?? 0);
        return original(handler, ms, ...rest);
      }) as typeof window.setTimeout;
      try {
        await (window as unknown as { record(n: boolean, u: string): Promise<unknown> }).record(
          false,
          '/sse/retry-delay?client=ssekit-timed',
        );
      } finally {
        window.setTimeout = original;
      }
      return asked;
    });
    expect(delays).toEqual([300]);
    await page.evaluate(
      (url) => (window as unknown as { record(n: boolean, u: string): Promise<unknown> }).record(true, url),
      '/sse/retry-delay?client=native-timed',
    );
    // Both came back after the reconnection time, not before (a lower bound only: how much
    // later depends on the machine's load).
    for (const client of ['native-timed', 'ssekit-timed']) {
      const [first, second] = arrivals.get(`retry-delay:${client}`)!;
      expect(second! - first!).toBeGreaterThanOrEqual(290);
    }
  });
});
