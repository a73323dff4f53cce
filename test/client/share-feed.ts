/**
 * A numbered feed for the sharing tests: node:http on 127.0.0.1 (HTTP/1.1), events `id: n` /
 * `data: n`, every one kept, so a request with `Last-Event-ID: k` gets k + 1 onwards, then live
 * ones. It counts the event streams open at any moment and records when each one came.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen } from '../helpers/server.js';

export interface FeedRequest {
  lastEventId: string | undefined;
  /** `performance.now()` when the request came. */
  at: number;
  url: string;
  /** The request's `Authorization` header. */
  authorization: string | undefined;
}

export interface Feed {
  url: string;
  /** Event streams open now. */
  readonly open: number;
  /** Every event-stream request, in order. */
  requests: FeedRequest[];
  /** The id of the last event published. */
  readonly last: number;
  /** Publishes `count` events at once. */
  publish(count?: number): void;
  /** Ends every open stream (the clients reconnect). */
  cut(): void;
  /** Publishes `count` events at a steady `perSecond` rate; resolves when all are out. */
  publishSteadily(count: number, perSecond: number): Promise<void>;
  /** Resolves once `check()` is true, polling every 10 ms, or rejects after `ms`. */
  until(check: () => boolean, ms?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * `/feed...` paths are the feed (any query string); `/401` answers 401; anything else goes to
 * `other` (pages, bundles) or is a 404.
 */
export async function startFeed(
  other?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<Feed> {
  const subscribers = new Set<ServerResponse>();
  const requests: FeedRequest[] = [];
  let last = 0;
  const frame = (n: number) => `id: ${n}\ndata: ${n}\n\n`;
  const { url, close } = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/feed') {
      const raw = req.headers['last-event-id'];
      const lastEventId = raw === undefined ? undefined : String(raw);
      const { authorization } = req.headers;
      requests.push({ lastEventId, at: performance.now(), url: req.url ?? '', authorization });
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        'x-stream': String(requests.length),
      });
      let replay = '';
      for (let n = Number(lastEventId ?? last) + 1; n <= last; n++) replay += frame(n);
      res.write(`: open\n\n${replay}`);
      subscribers.add(res);
      res.on('close', () => subscribers.delete(res));
    } else if (path === '/401') {
      requests.push({
        lastEventId: undefined,
        at: performance.now(),
        url: req.url ?? '',
        authorization: req.headers.authorization,
      });
      res.writeHead(401);
      res.end('no');
    } else if (!other?.(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  const publish = (count = 1) => {
    let text = '';
    for (let i = 0; i < count; i++) text += frame(++last);
    for (const res of subscribers) res.write(text);
  };
  return {
    url,
    get open() {
      return subscribers.size;
    },
    requests,
    get last() {
      return last;
    },
    publish,
    cut() {
      for (const res of subscribers) res.end();
    },
    async publishSteadily(count, perSecond) {
      const start = performance.now();
      let sent = 0;
      while (sent < count) {
        const due = Math.min(count, Math.floor(((performance.now() - start) * perSecond) / 1000) + 1);
        if (due > sent) {
          publish(due - sent);
          sent = due;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
    async until(check, ms = 10_000, what = 'condition') {
      const end = performance.now() + ms;
      while (!check()) {
        if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () => {
      for (const res of subscribers) res.end();
      return close();
    },
  };
}
