/**
 * `connect()`: fetch -> parse -> events, with reconnection. The response handling follows the
 * fetch steps of WHATWG HTML §9.2.2 (the `EventSource` constructor) and §9.2.3 ("reestablish
 * the connection", "fail the connection"), made explicit and open to a reconnection policy.
 */
import { createTextParser } from '../protocol/parse.js';
import type { ServerSentEvent } from '../protocol/types.js';
import {
  BodyError,
  ContentTypeError,
  HttpError,
  IdleTimeoutError,
  NetworkError,
  StreamEndError,
} from './errors.js';
import {
  backoffDelay,
  isReconnectable,
  parseRetryAfter,
  type ReconnectDecision,
  type ReconnectOptions,
} from './reconnect.js';

/** A request body that can be sent again, unchanged, on every reconnect. */
// `ArrayBuffer | ArrayBufferView` is the DOM's `BufferSource`, spelled out: that name exists in
// the DOM and worker libs only, and these declarations must stand in a Node-only project too.
export type ReplayableBody =
  | string
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | URLSearchParams
  | FormData
  | null;

/** Options of {@link connect}: fetch's own request options plus the ones of the connection. */
export interface ConnectOptions extends Omit<RequestInit, 'body' | 'headers'> {
  /**
   * Request headers, sent on every attempt; or a function called before each attempt that
   * returns them, so a reconnect carries a refreshed token. Fixed headers are checked when
   * `connect` is called (a bad name throws there); a function's, on its attempt (a bad one
   * ends the connection through `onError`, fatal by default).
   */
  headers?: RequestInit['headers'] | (() => RequestInit['headers'] | Promise<RequestInit['headers']>);
  /**
   * The request body, sent again on each reconnect, so it must be replayable; or a function
   * called before each attempt that returns one (build a fresh stream-free body there). A
   * `ReadableStream` or async iterable can be read only once and is refused with a
   * {@link BodyError}.
   */
  body?: ReplayableBody | (() => ReplayableBody | Promise<ReplayableBody>);
  /** The `fetch` to use. Default: the global `fetch`, looked up when `connect` is called. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** The `Last-Event-ID` to send on the first request, to resume where a previous session left. */
  lastEventId?: string;
  /** Reconnection policy, or `false` to never reconnect (an ended stream then ends cleanly). */
  reconnect?: ReconnectOptions | false;
  /**
   * Milliseconds without a single byte (not even a comment, so heartbeats count) after which
   * the attempt is dropped with an {@link IdleTimeoutError}; the reconnection policy decides what
   * follows. It covers the wait for the response headers too. Default: none; `0` is none too,
   * and one above 2 ** 31 - 1 ms (24.8 days, the longest `setTimeout` keeps), `Infinity`
   * included, waits that long. Anything but a number >= 0 makes `connect` throw a `RangeError`.
   */
  idleTimeout?: number;
  /** The parser's bound on one line or one event, in characters (see `createParser`). */
  maxBufferSize?: number;
  /**
   * Drop the connection while the page is hidden and reconnect, with `Last-Event-ID`, as soon
   * as it is visible again. Needs `document`; ignored elsewhere. Default `false`.
   */
  pauseWhenHidden?: boolean;
  /**
   * A 200 `text/event-stream` response arrived. Throw (or reject) to refuse it: the error goes
   * to `onError` and is fatal by default.
   */
  onOpen?(response: Response): void | Promise<void>;
  /** Each event, as it is parsed. Throwing ends the connection with that error. */
  onEvent?(event: ServerSentEvent): void;
  /** The next attempt is scheduled in `delay` ms (after a failure or the end of a stream). */
  onReconnect?(delay: number): void;
  /**
   * An attempt failed: {@link HttpError}, {@link ContentTypeError}, {@link NetworkError},
   * {@link IdleTimeoutError}, {@link StreamEndError}, {@link BodyError}, a protocol
   * `ParseError`, or what one of your callbacks threw. Unlike the server side's `onError`, which
   * only reports, this one decides: return a {@link ReconnectDecision} to overrule the default
   * policy (nothing leaves it to the policy); throwing ends the connection with what you threw.
   */
  onError?(error: unknown): ReconnectDecision;
}

/** A live event stream: iterate it for events, or use the callbacks of {@link ConnectOptions}. */
export interface Connection extends AsyncIterable<ServerSentEvent> {
  /** 0 connecting (or waiting to reconnect), 1 open, 2 closed for good. */
  readonly readyState: 0 | 1 | 2;
  /** The last event ID string: sent as `Last-Event-ID` on the next attempt when not empty. */
  readonly lastEventId: string;
  /**
   * The URL of the reply this stream is, when the answer to a request other than `GET` named
   * one (`Content-Location` on the 200 answer, resolved against the response's URL, on the
   * same origin: one elsewhere is ignored, as the request's headers would go there); otherwise
   * `undefined`. Every later attempt is a `GET` of it with `Last-Event-ID`: the request itself
   * (a `POST`, its body) is never sent again. Keep it with {@link Connection.lastEventId} to
   * resume after a page reload (`connect(replyUrl, { lastEventId })`).
   */
  readonly replyUrl: string | undefined;
  /**
   * Settles when the connection is closed for good: resolves after `close()`, an abort, a 204,
   * a reply's `end` event or a stream that ended with `reconnect: false`; rejects with the error
   * that ended it otherwise.
   * Created on first access, so an unobserved failure is never an unhandled rejection.
   */
  readonly closed: Promise<void>;
  /** Stops everything at once, in any state: no further request, no timer left behind. */
  close(): void;
  /**
   * Events, with backpressure: while the consumer lags, reading from the network pauses.
   * `break` closes the connection; a fatal error is thrown here. Events parsed before the
   * first call are queued only when `onEvent` is not given.
   */
  [Symbol.asyncIterator](): AsyncIterator<ServerSentEvent>;
}

// readyState, written as literals (bundlers do not inline module constants): 0 connecting, 1
// open, 2 closed. The other bounds, also literals, each have their reason where they are used.

/** Listened to only where it can be: Node's globals, or a stand-in `document`, cannot. */
type Listenable = Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>>;

interface VisibilityDocument extends Listenable {
  readonly hidden: boolean;
  readonly baseURI: string;
}

/** What connect reads of a page's or a worker's global scope. */
interface Scope extends Listenable {
  document?: VisibilityDocument;
  location?: { href: string };
}

/**
 * The rule of connect's numeric options, one for all: `undefined` is the option's default;
 * anything else must be a number from 0 to `max` (1 for `jitter`), `Infinity` included where
 * `max` is. NaN, a negative number or a jitter above 1 would make a wait NaN or negative, which
 * `setTimeout` runs at once: a reconnect loop that hammers the server; a string is read as a
 * number by some of the arithmetic and concatenated by the rest (`+`). Returns the value;
 * otherwise throws a `RangeError` that names the option and shows the value.
 */
function checkNumber<T>(name: string, value: T, max = Infinity): T {
  if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= max)) {
    throw new RangeError(`${name} must be a number from 0 to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Opens an event stream with `fetch` and keeps it open: reconnects with `Last-Event-ID` after
 * a network error or the end of the stream, honours `Retry-After`, and stops for good on a 204,
 * a 4xx or a wrong content type (see {@link ConnectOptions.onError}). After a stream that was open
 * ends, the wait is exactly the reconnection time (the server's `retry:` value, else
 * `initialDelay`), as WHATWG HTML §9.2.3 has it; only failures in a row (no stream, or streams
 * that end again before an event) back off, with jitter, on top of that time (see
 * {@link backoffDelay}). In a page or a worker, the network coming back (`online`) ends that
 * wait at once (one a `Retry-After` asked for too), and so does, in a page, becoming visible
 * again (a laptop woken, a phone unlocked): the next attempt starts then. The listeners go when
 * the connection closes.
 *
 * A `POST` (any method but `GET` and `HEAD`) whose 200 answer names a reply with
 * `Content-Location` (as `ssekit/replies` does) is resumed by a `GET` of that URL, never by
 * sending the request again (see {@link Connection.replyUrl}); its `end` event is the last one
 * the connection yields, after which it closes cleanly, with no further request. Without
 * `Content-Location`, a reconnect sends the same request, body and all.
 *
 * @example
 * ```ts
 * const connection = connect('/api/chat', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
 *   body: JSON.stringify({ prompt: 'Hi' }),
 *   // Against ssekit/replies, a drop resumes the reply by GET. Against a server that names no
 *   // reply, a reconnect would post again: there, add `reconnect: false`.
 * });
 * for await (const event of connection) {
 *   if (event.event === 'token') output.textContent += event.data;
 * }
 * ```
 */
export function connect(url: string | URL, init: ConnectOptions = {}): Connection {
  const {
    fetch: fetcher = fetch,
    lastEventId: initialId,
    reconnect,
    idleTimeout,
    // Read by the parser from `init` itself (its options); named here to keep it out of fetch's.
    maxBufferSize,
    pauseWhenHidden,
    onOpen,
    onEvent,
    onReconnect,
    onError,
    signal,
    body,
    headers: initHeaders,
    ...request
  } = init;
  const g = globalThis as Scope;
  // Resolve now: a relative URL outside a page is a TypeError here, not a retry loop later.
  const doc = g.document;
  const href = new URL(url, doc?.baseURI ?? g.location?.href).href;
  const headers = typeof initHeaders === 'function' ? initHeaders : new Headers(initHeaders);
  checkBody(body, request.method);
  // `reconnect: false` is a policy that allows no attempt after a failure.
  const policy = reconnect === false ? { maxAttempts: 0 } : reconnect || {};
  // The numbers are checked once, now (initialDelay where it is read, below): see checkNumber.
  checkNumber('idleTimeout', idleTimeout);
  checkNumber('reconnect.maxDelay', policy.maxDelay);
  checkNumber('reconnect.factor', policy.factor);
  checkNumber('reconnect.jitter', policy.jitter, 1);
  checkNumber('reconnect.maxAttempts', policy.maxAttempts);

  let state: 0 | 1 | 2 = 0;
  // A function, not a comparison: TypeScript would narrow `state` across awaits.
  const isClosed = (): boolean => state === 2;
  let reconnectionTime = checkNumber('reconnect.initialDelay', policy.initialDelay) ?? 1000;
  let failures = 0;
  let controller: AbortController | undefined;
  let interrupt: unknown;
  let idle: ReturnType<typeof setTimeout> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resume: (() => void) | undefined;
  let final: unknown;
  // Set once a non-GET's answer names a reply: every later attempt is a GET of it.
  let replyUrl: string | undefined;
  let settle!: (error: unknown) => void;
  const closed = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  // Marked as handled, as the Streams standard does for its `closed` promises: a failure
  // nobody awaits is not an unhandled rejection (the iterator and onError report it).
  closed.catch(() => {});
  let iterating = false;
  // Events are queued for the iterator once it exists, or from the start without onEvent.
  const buffered = (): boolean => iterating || !onEvent;
  const queue: ServerSentEvent[] = [];
  // Wakes the iterator waiting for an event, or the reader waiting for the iterator to catch
  // up: never both, as the queue cannot be empty and full at once.
  let notify: (() => void) | undefined;
  const untilNotified = (): Promise<void> => new Promise((resolve) => (notify = resolve));

  const parser = createTextParser(
    {
      onEvent(event) {
        // §9.2.6 dispatches through a task that checks readyState: after close(), even the
        // rest of the chunk being parsed is dropped.
        if (isClosed()) return;
        failures = 0;
        onEvent?.(event);
        if (buffered()) {
          queue.push(event);
          notify?.();
        }
        // A reply's `end` is its last event (the server then ends the stream, and a GET after
        // it would get 204): close now, cleanly, and ask nothing more. The queue is kept.
        if (replyUrl && event.event === 'end') finish();
      },
      onRetry(ms) {
        reconnectionTime = ms;
      },
    },
    init,
  );
  parser.reset(initialId);

  /**
   * Waits `ms`, or until woken. 2 ** 31 - 1 (24.8 days) is the longest delay `setTimeout` keeps;
   * a longer one would fire at once. It is also the wait of a page paused while hidden, which
   * checks again when it ends.
   */
  const sleep = (ms = 2 ** 31 - 1): Promise<void> =>
    new Promise((resolve) => {
      resume = resolve;
      timer = setTimeout(resolve, Math.min(ms, 2 ** 31 - 1));
    });

  /**
   * Ends the wait before the next attempt now. Also the `online` listener: when the network
   * returns, a connection that lost it reconnects at once instead of waiting out its backoff
   * (an event of the platform, rare, so this cannot turn into a storm). During an attempt it
   * does nothing.
   */
  function wake(): void {
    clearTimeout(timer);
    resume?.();
  }

  function finish(error?: unknown): void {
    if (isClosed()) return;
    state = 2;
    final = error;
    abortAttempt();
    wake();
    signal?.removeEventListener('abort', close);
    doc?.removeEventListener?.('visibilitychange', onVisibility);
    g.removeEventListener?.('online', wake);
    settle(error);
  }

  function close(): void {
    // Stop means stop: events queued and not yet taken are dropped (an error or a clean end
    // of the stream still lets the iterator take them first).
    queue.length = 0;
    finish();
  }

  // The idle timer: re-armed on every chunk, stopped while a lagging iterator holds reading
  // back, and cleared at once whenever an attempt is dropped. 0 (or none) is no timer. A longer
  // timeout than setTimeout keeps (Infinity included) is capped at that, as in sleep(): taken as
  // given, it would fire at once and drop every attempt as it began.
  function arm(on = idleTimeout): void {
    clearTimeout(idle);
    if (on)
      idle = setTimeout(() => abortAttempt(new IdleTimeoutError('idle timeout')), Math.min(on, 2 ** 31 - 1));
  }

  function abortAttempt(reason?: unknown): void {
    arm(0);
    interrupt = reason;
    controller?.abort();
    notify?.();
  }

  function onVisibility(): void {
    // Back on the page: end a pause, or a backoff wait (a connection lost while the laptop
    // slept or the phone was locked), and reconnect now (a person's pace, so this cannot turn
    // into a storm). A stream still open is left alone.
    if (!doc!.hidden) wake();
    // The listener itself is the reason given: a value no attempt ends with otherwise, which
    // marks the attempt as dropped by us, paused, not failed.
    else if (pauseWhenHidden) abortAttempt(onVisibility);
  }

  /** One request and its stream; resolves to why it ended (never rejects). */
  async function attempt(): Promise<unknown> {
    const ctl = (controller = new AbortController());
    interrupt = undefined;
    // The new stream starts from the last event ID string the connection holds: its events
    // that carry no id keep it (see Parser.reset).
    parser.reset();
    const id = parser.lastId();
    try {
      const requestHeaders = new Headers(typeof headers === 'function' ? await headers() : headers);
      // Accept is set as the spec's user agents do; `cache: 'no-store'` is the spec's cache mode
      // (a Cache-Control request header would cost a CORS preflight).
      if (!requestHeaders.has('accept')) requestHeaders.set('accept', 'text/event-stream');
      // §9.2.3: "set `Last-Event-ID` to the last event ID string, encoded as UTF-8". Headers
      // take a byte string: this turns each UTF-8 byte into one character.
      if (id) requestHeaders.set('last-event-id', unescape(encodeURIComponent(id)));
      // A reply is read back with a GET: no body, so no content type either.
      if (replyUrl) requestHeaders.delete('content-type');
      const requestBody = replyUrl ? null : typeof body === 'function' ? await body() : body;
      checkBody(requestBody, request.method);
      // A reply is read back with a GET; otherwise the caller's method (fetch's default: GET).
      const method = replyUrl ? 'GET' : request.method;
      if (ctl.signal.aborted) return;
      arm();
      const response = await transport(
        fetcher(replyUrl ?? href, {
          cache: 'no-store',
          ...request,
          method,
          headers: requestHeaders,
          // TypeScript 5.7+ DOM libs take only views on an `ArrayBuffer` (`ArrayBufferView` is
          // generic there, not before, so the public type cannot say it and stay portable);
          // fetch itself refuses a view on a SharedArrayBuffer with a TypeError.
          body: requestBody as BodyInit | null,
          signal: ctl.signal,
        }),
      );
      const { status, headers: got, body: stream } = response;
      // A 204 is the server's way to say "stop": WHATWG fails the connection, no retry.
      if (status === 204) return finish();
      const reader = stream?.getReader();
      // §9.2.6: always UTF-8. The platform's streaming decoder, not the parser's byte path,
      // keeps this bundle small; ignoreBOM leaves a BOM to the parser, which skips it once.
      const decoder = new TextDecoder(undefined, { ignoreBOM: true });
      if (status !== 200) {
        // A bounded excerpt for diagnostics (HttpError.body): the first chunk, at most 1024
        // characters.
        const text = await reader?.read().then(
          ({ value }) => decoder.decode(value).slice(0, 1024),
          // The body broke off while read for diagnostics only: the status is the error.
          () => '',
        );
        throw new HttpError(
          response,
          method || 'GET',
          replyUrl ?? href,
          text,
          parseRetryAfter(got.get('retry-after')),
        );
      }
      const type = got.get('content-type');
      // The MIME type's essence must match; parameters such as charset are allowed. (Headers
      // trim the value; `null`, no header, fails the test.)
      if (!/^text\/event-stream[\t ]*(;|$)/i.test(type as string)) throw new ContentTypeError(type);
      // RFC 9110 §8.7: Content-Location on the answer to a POST names a resource whose current
      // representation the content is: here, the reply, where a GET can resume it. Relative to
      // the response's URL (after redirects; a mock's empty `url` falls back to the request's).
      // Same origin only, as the request's headers (credentials) go along; a value that is not
      // a URL is ignored too: the connection then reconnects as it would without one.
      const location = got.get('content-location');
      if (location && !replyUrl && !isGet(request.method)) {
        const base = new URL(response.url || href);
        try {
          const reply = new URL(location, base);
          if (reply.origin === base.origin) replyUrl = reply.href;
        } catch {}
      }
      state = 1;
      await onOpen?.(response);
      while (reader && !ctl.signal.aborted) {
        const result = await transport(reader.read());
        if (result.done) break;
        parser.feed(decoder.decode(result.value, { stream: true }));
        // Backpressure: a lagging iterator pauses reading once 64 events wait (the high-water
        // mark), so memory stays bounded.
        while (buffered() && queue.length >= 64 && !ctl.signal.aborted) {
          arm(0);
          await untilNotified();
        }
        arm();
      }
      // End of body: §9.2.3 reestablishes the connection; the next reset discards any
      // unfinished event, as the spec's end-of-file handling does.
      throw new StreamEndError('stream ended');
    } catch (error) {
      return interrupt ?? error;
    } finally {
      arm(0);
      // Releases the socket whatever happened (a refused response has an unread body).
      ctl.abort();
    }
  }

  async function run(): Promise<void> {
    while (!isClosed()) {
      if (pauseWhenHidden && doc?.hidden) {
        await sleep();
        continue;
      }
      const error = await attempt();
      if (isClosed()) return;
      // Whether this attempt got a stream (onOpen ran) after no failure, or after an event
      // (which resets the count): then its end is no failure to back off from.
      const opened = state && !failures;
      state = 0;
      if (error === onVisibility) continue; // paused while hidden: no failure
      if (reconnect === false && error instanceof StreamEndError) return finish();
      let decision = onError?.(error);
      if (isClosed()) return;
      // No maxAttempts is no limit: `failures >= undefined` is false.
      decision ??= !(failures >= policy.maxAttempts!) && isReconnectable(error);
      if (decision === false) return finish(error);
      // §9.2.3: a stream that was open and ended waits the reconnection time, exactly; backoff
      // and jitter are for failures in a row (no stream, or streams that end before an event:
      // a server that accepts and hangs up at once must not get a reconnection storm).
      const ms =
        typeof decision === 'number'
          ? decision
          : opened
            ? reconnectionTime
            : Math.max(
                (error as HttpError)?.retryAfter ?? 0,
                backoffDelay(reconnectionTime, failures, policy),
              );
      failures++;
      onReconnect?.(ms);
      if (isClosed()) return;
      await sleep(ms);
    }
  }

  if (signal?.aborted) finish();
  else {
    signal?.addEventListener('abort', close);
    doc?.addEventListener?.('visibilitychange', onVisibility);
    g.addEventListener?.('online', wake);
    // Callbacks may throw; that ends the connection with what they threw. run() resolves with
    // nothing, so finish() then gets no error.
    run().then(finish, finish);
  }

  return {
    get readyState() {
      return state;
    },
    get lastEventId() {
      return parser.lastId();
    },
    get replyUrl() {
      return replyUrl;
    },
    closed,
    close,
    async *[Symbol.asyncIterator]() {
      iterating = true;
      try {
        for (;;) {
          if (queue.length) {
            // Below the high-water mark (64) once this one is taken: the reader may go on (it
            // runs on a later microtask, after the shift). The queue stays near that mark,
            // where shift() is cheap.
            if (queue.length <= 64) notify?.();
            yield queue.shift()!;
          } else if (isClosed()) {
            if (final !== undefined) throw final;
            return;
          } else await untilNotified();
        }
      } finally {
        // `break` in `for await` lands here.
        close();
      }
    },
  };
}

/**
 * A failure of the network or of the body stream, as a {@link NetworkError} whose message names
 * the system error under fetch's own (Node: `TypeError: fetch failed`, the cause a system error
 * with `code`, `address` and `port`), else fetch's message (`Failed to fetch` in a browser).
 */
function transport<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((cause) => {
    const system = cause?.cause;
    throw new NetworkError(
      `${system?.code ?? cause?.message ?? cause}${system?.address ? ` ${system.address}:${system.port}` : ''}`,
      { cause },
    );
  });
}

function checkBody(body: unknown, method = 'GET'): void {
  if (body == null) return;
  // A stream is read once: a reconnect would send an empty body and nobody would know. Both
  // are methods, read as properties: a string or a Blob has neither, and needs no test of its own.
  if ((body as ReadableStream).getReader || (body as AsyncIterable<unknown>)[Symbol.asyncIterator]) {
    throw new BodyError('body is a stream');
  }
  if (isGet(method)) throw new BodyError(`${method} with a body`);
}

const isGet = (method = 'GET'): boolean => /^(GET|HEAD)$/i.test(method);
