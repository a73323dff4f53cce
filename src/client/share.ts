/**
 * `ssekit/share`: one event stream shared by every tab of an origin that opens it. The tabs
 * that open the same stream (same URL, method, headers unless given as a function, and body)
 * elect one leader with a Web Lock; the leader holds the only network connection, through
 * `connect()`, and fans its events out to the others over a `BroadcastChannel`. When the
 * leader goes (its tab closed or crashed, or `close()`), the browser hands the lock to a waiting
 * tab, which reconnects from the last event ID it saw. Where Web Locks or `BroadcastChannel` are
 * missing, each caller simply gets a connection of its own. Its own subpath, so `connect` alone
 * does not grow.
 */
import { hasName } from '../protocol/errors.js';
import type { ServerSentEvent } from '../protocol/types.js';
// Through the client's index, not connect.js: the built package then keeps one chunk for the
// client, as it had before this subpath, and the bundles of `connect` and `EventSource` stay the
// same to the byte (a bundler's tree-shaking leaves `EventSource` out of this one).
import { ClientError, type Connection, type ConnectOptions, connect } from './index.js';

/**
 * Options of {@link connectShared}: those of `connect`, less `onEvent` and `onError` (only the
 * leading tab meets responses and errors, so events are read by iterating) and
 * `pauseWhenHidden` (a hidden leader would pause every tab); `onOpen` and `onReconnect` are called
 * in every tab. The body, part of what identifies the stream, is a string.
 */
export interface ShareOptions
  extends Omit<
    ConnectOptions,
    'body' | 'pauseWhenHidden' | 'onOpen' | 'onEvent' | 'onReconnect' | 'onError'
  > {
  /** The request body, sent again on each reconnect, by whichever tab leads. */
  body?: string | null;
  /**
   * The shared stream is open, in every tab: when it opens or opens again, and at once in a tab
   * that joins while it is open. The leading tab gets the response, as `connect` gives it
   * (throwing refuses it, which ends the stream in every tab); the others, a `Response` with the
   * leader's status and headers and no body (throwing there, or rejecting, ends that tab's
   * stream only).
   */
  onOpen?(response: Response): void | Promise<void>;
  /** The next attempt is scheduled in `delay` ms, by the leading tab: told in every tab. */
  onReconnect?(delay: number): void;
}

/** A stream shared across tabs: the shape of a `Connection`, and who holds the network side. */
export interface SharedConnection extends Connection {
  /** True while this caller holds the network connection (always, where sharing is not possible). */
  readonly leading: boolean;
}

/**
 * A tab's reader fell more than 10,000 events (or 16 Mi characters of data) behind the shared
 * stream, which cannot wait for one slow tab: that tab's connection ends with this error; the
 * others go on.
 */
export class ShareLagError extends ClientError {
  override name = 'ShareLagError' as const;
}

/** True for a {@link ShareLagError}, from any realm. */
export function isShareLagError(value: unknown): value is ShareLagError {
  return hasName(value, ['ShareLagError']);
}

/** What goes over the channel. `e`: the sender's epoch, which grows with each new leader. */
interface Message {
  e: number;
  /** An event. */
  v?: ServerSentEvent;
  /** The leader's readyState. */
  s?: 0 | 1;
  /** The stream's last event ID, the leader's answer to `hi`. */
  id?: string;
  /** The URL of the reply a POST's answer named (`Connection.replyUrl`), once known. */
  r?: string | undefined;
  /** The headers of the response that opened the stream, with `s: 1`. */
  h?: [string, string][] | undefined;
  /** A reconnection is scheduled in `ms` milliseconds. */
  ms?: number;
  /** A new tab asks the leader for `id` and `s`. */
  hi?: 1;
  /** The stream ended for good, with the error `x` if any (its fields, cloneable). */
  end?: 1;
  x?: unknown;
}

interface Locks {
  request(
    name: string,
    options: { signal: AbortSignal },
    callback: () => Promise<void> | void,
  ): Promise<unknown>;
}

/**
 * Opens an event stream like {@link connect}, shared by the tabs of this origin that open the
 * same one: one network connection for all of them, and every tab iterates every event. When
 * the leading tab goes, another takes over and resumes with `Last-Event-ID`: no event is lost or
 * repeated in any tab when each event carries its own `id` and the server resumes from it. A tab
 * that joins late gets the events from then on, and the stream's `lastEventId` at once. Falls
 * back to a connection of its own where Web Locks or `BroadcastChannel` are missing.
 *
 * A fatal error ends the stream in every tab; in the other tabs it is a plain `Error` with the
 * same `name`, `message` and fields (use the `is...` guards, not `instanceof`).
 *
 * @example
 * ```ts
 * const feed = connectShared('/api/feed', { headers: { authorization: `Bearer ${token}` } });
 * for await (const event of feed) render(JSON.parse(event.data));
 * ```
 */
export function connectShared(url: string | URL, init: ShareOptions = {}): SharedConnection {
  const g = globalThis as {
    navigator?: { locks?: Locks };
    document?: { baseURI: string };
    location?: { href: string };
  };
  const locks = g.navigator?.locks;
  if (!locks || typeof BroadcastChannel !== 'function')
    return Object.assign(connect(url, init), { leading: true });

  const { signal, lastEventId, onOpen, onReconnect, ...request } = init;
  const href = new URL(url, g.document?.baseURI ?? g.location?.href).href;
  // The stream's identity. Headers iterate sorted and lower-cased, so their order does not count.
  // A headers function cannot be compared: every tab that gives one shares by URL, method and
  // body, and the leader's is called on each of its attempts.
  const { headers } = request;
  const key = `ssekit:${JSON.stringify([
    href,
    (request.method ?? 'GET').toUpperCase(),
    typeof headers === 'function' ? 'function' : [...new Headers(headers)],
    request.body ?? null,
  ])}`;
  const channel = new BroadcastChannel(key);
  const lockRequest = new AbortController();

  let state: 0 | 1 | 2 = 0;
  let leading = false;
  let epoch = 0;
  // After a change of leader, the new one resumes from the last ID it saw, which may be behind
  // this tab's: until an event not seen yet comes, an event whose ID this tab delivered is dropped.
  let catchUp = false;
  let delivered = false;
  let lastId = lastEventId ?? '';
  // The IDs this tab delivered last: the seam of a hand-over is a few events wide (those the old
  // leader had sent when the new one took the lock), far below this bound.
  const seen: string[] = [];
  const queue: ServerSentEvent[] = [];
  let chars = 0;
  let final: unknown;
  let connection: Connection | undefined;
  // A POST answered with a reply: a new leader resumes it by GET there and never posts again.
  let replyUrl: string | undefined;
  // The leader's: the headers of the response that opened the stream, for the other tabs.
  let heads: [string, string][] | undefined;
  let release: (() => void) | undefined;
  let notify: (() => void) | undefined;
  let settle!: (error: unknown) => void;
  const closed = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  closed.catch(() => {});

  const post = (message: Omit<Message, 'e'>): void => channel.postMessage({ e: epoch, ...message });

  function accept(event: ServerSentEvent): void {
    if (catchUp && event.id && seen.includes(event.id)) return;
    catchUp = false;
    delivered = true;
    lastId = event.id;
    if (seen.push(event.id) > 1024) seen.shift();
    queue.push(event);
    chars += event.data.length;
    if (queue.length > 10_000 || chars > 2 ** 24) finish(new ShareLagError('reader too far behind'));
    notify?.();
  }

  function setState(s: 0 | 1, ms?: number): void {
    state = s;
    replyUrl ??= connection?.replyUrl;
    post({ s, r: replyUrl, h: heads, ms });
  }

  function finish(error?: unknown): void {
    if (state === 2) return;
    state = 2;
    leading = false;
    final = error;
    lockRequest.abort();
    channel.close();
    connection?.close();
    release?.();
    signal?.removeEventListener('abort', close);
    notify?.();
    settle(error);
  }

  function close(): void {
    queue.length = 0;
    finish();
  }

  // The leader's connection ended for good (not by close(), which hands the stream over): it
  // ends in every tab.
  function end(error?: unknown): void {
    if (state === 2) return;
    try {
      // An Error's name and message are its own properties only once copied.
      post({
        end: 1,
        x: error instanceof Error ? { ...error, name: error.name, message: error.message } : error,
      });
    } catch {
      // Not cloneable: the others take the lock and meet the error themselves.
    }
    finish(error);
  }

  channel.onmessage = ({ data: m }: MessageEvent<Message>) => {
    // Whatever the epoch: the stream is over (a tab that took the lock just then stops too).
    if (m.end) return finish(m.x instanceof Object ? Object.assign(new Error(), m.x) : m.x);
    if (m.hi) {
      if (leading) post({ id: lastId, s: state as 0 | 1, r: replyUrl, h: heads });
      return;
    }
    // A late message of a former leader: the current one has resumed past it, or will.
    if (leading || m.e < epoch) return;
    if (m.e > epoch) {
      epoch = m.e;
      catchUp = true;
    }
    if (m.s !== undefined) {
      // Told once per opening: answers to other tabs' `hi` repeat the state.
      // Here too, an onOpen that throws or rejects ends this tab's stream with that error.
      if (m.s && !state) (async () => onOpen?.(new Response(null, { headers: m.h })))().catch(finish);
      state = m.s;
    }
    if (m.ms !== undefined) onReconnect?.(m.ms);
    if (m.r) replyUrl = m.r;
    if (m.id !== undefined && !delivered) lastId = m.id;
    if (m.v) accept(m.v);
  };

  locks
    .request(key, { signal: lockRequest.signal }, () => {
      if (state === 2) return;
      leading = true;
      // Above every epoch seen, and above those of leaders this tab never heard of.
      epoch = Math.max(Date.now(), epoch + 1);
      catchUp = true;
      setState(0);
      connection = connect(replyUrl ?? href, {
        ...request,
        ...(replyUrl ? { method: 'GET', body: undefined } : {}),
        lastEventId: lastId,
        onEvent(event) {
          post({ v: event });
          accept(event);
        },
        onOpen(response) {
          heads = [...response.headers];
          setState(1);
          return onOpen?.(response);
        },
        onReconnect(ms) {
          setState(0, ms);
          onReconnect?.(ms);
        },
      });
      // `closed` resolves with nothing: a clean end is an end with no error.
      connection.closed.then(end, end);
      // Held until this caller closes: then the next waiting tab gets the lock.
      return new Promise<void>((resolve) => (release = resolve));
    })
    // Aborted while waiting (closed before leading: `end` then does nothing), or `connect`
    // refused the options: that ends the stream in every tab, as its end would.
    .catch(end);
  post({ hi: 1 });
  if (signal?.aborted) finish();
  else signal?.addEventListener('abort', close);

  return {
    get readyState() {
      return state;
    },
    get lastEventId() {
      return lastId;
    },
    get replyUrl() {
      return replyUrl ?? connection?.replyUrl;
    },
    get leading() {
      return leading;
    },
    get closed() {
      return closed;
    },
    close,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (queue.length) {
            const event = queue.shift()!;
            chars -= event.data.length;
            yield event;
          } else if (state === 2) {
            if (final !== undefined) throw final;
            return;
          } else await new Promise<void>((resolve) => (notify = resolve));
        }
      } finally {
        close();
      }
    },
  };
}
