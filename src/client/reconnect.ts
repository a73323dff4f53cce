/**
 * Reconnection policy: which failures are worth another attempt, and how long to wait before it.
 *
 * WHATWG HTML §9.2.3 ("reestablish the connection") waits "a delay equal to the reconnection
 * time of the event source" and then lets the user agent "optionally wait some more", naming
 * exponential backoff as the reason. The reconnection time is therefore a floor: the backoff
 * term, and its jitter, are added on top of it, never taken out of it. They apply to failures
 * in a row only: after a stream that was open ends, the wait is the reconnection time, exactly.
 */
import { ParseError } from '../protocol/errors.js';
import { HttpError, IdleTimeoutError, NetworkError, StreamEndError } from './errors.js';

/**
 * How a connection reconnects. Every field is optional, and a number from 0 up (`jitter`: up to
 * 1); `connect` throws a `RangeError` that names a field given anything else (`backoffDelay`
 * does not check).
 */
export interface ReconnectOptions {
  /** Reconnection time until the server sends a `retry:` field, in ms. Default 1000; >= 0. */
  initialDelay?: number;
  /** Largest backoff term added to the reconnection time, in ms. Default 30 000; >= 0, Infinity too. */
  maxDelay?: number;
  /** Growth of the backoff term per consecutive failure. Default 2; >= 0. */
  factor?: number;
  /**
   * Share of the backoff term that is random, from 0 to 1. Default 1, "full jitter": a
   * thousand clients cut off by one server restart come back spread over the whole window
   * instead of all at once. 0 makes every delay predictable. Above 1 is refused: a delay could
   * then be shorter than the reconnection time, or negative.
   */
  jitter?: number;
  /**
   * Retries in a row: how many times the connection reconnects after consecutive failed
   * attempts before it gives up with the last error. `n` allows `n + 1` failed attempts in a row
   * (the first request and `n` retries); `0` never retries. A connection that delivers an event
   * starts the count again. Default `Infinity`; >= 0.
   */
  maxAttempts?: number;
}

/**
 * What `onError` returns: nothing to apply the default policy, `false` to stop (the connection
 * ends with this error), `true` to reconnect after the policy's delay, or a number of ms to
 * reconnect after exactly that long.
 */
export type ReconnectDecision = boolean | number | undefined;

/**
 * The wait before the next attempt after a failure to get a stream (a stream that was open and
 * ended waits `reconnectionTime` alone): `reconnectionTime` plus a backoff term that starts at the
 * reconnection time (at least 1 ms, so `retry: 0` still backs off when the server stays down),
 * grows by `factor` for each earlier consecutive failure, is capped at `maxDelay`, and is made
 * random in its `jitter` share.
 *
 * @param failures Consecutive failures before this one (0 after a connection that delivered).
 * @param random A number in [0, 1); `Math.random` by default.
 * @example
 * ```ts
 * backoffDelay(1000, 0, {});            // 1000 to 2000 ms
 * backoffDelay(1000, 3, { jitter: 0 }); // 9000 ms: 1000 + 1000 * 2 ** 3
 * ```
 */
export function backoffDelay(
  reconnectionTime: number,
  failures: number,
  options: ReconnectOptions,
  random: () => number = Math.random,
): number {
  const { maxDelay = 30_000, factor = 2, jitter = 1 } = options;
  const term = Math.min(maxDelay, Math.max(reconnectionTime, 1) * factor ** failures);
  return Math.round(reconnectionTime + term * (1 - jitter * random()));
}

/**
 * The default answer to a failed attempt: reconnect after a network error, a broken or ended
 * stream, an idle timeout, an oversized line, or an HTTP 5xx, 408 or 429; everything else
 * (other statuses, a wrong content type, a refused body, an error thrown by your own callback)
 * is fatal.
 */
export function isReconnectable(error: unknown): boolean {
  // instanceof is enough here: these errors come from this very module graph.
  if (error instanceof HttpError) {
    const { status } = error;
    return status >= 500 || status === 408 || status === 429;
  }
  return (
    error instanceof NetworkError ||
    error instanceof StreamEndError ||
    error instanceof IdleTimeoutError ||
    // The parser that raises it is in every bundle that has connect, so this costs nothing.
    error instanceof ParseError
  );
}

/**
 * A `Retry-After` header value in ms from `now`, or `undefined` when absent or invalid. Parsed
 * strictly (RFC 9110 §10.2.3): delay-seconds (digits only, so `1.5` is no delay) or an
 * IMF-fixdate (§5.6.7, `Sun, 06 Nov 1994 08:49:37 GMT`): a date that reads back exactly as it
 * was written. The two obsolete date forms (RFC 850, asctime), which §5.6.7 asks recipients to
 * accept, are ignored: no server this century sends them, and reading them would cost the
 * client's size budget more than everything else here. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  // Headers.get() has already trimmed the value. `null` reads as the text "null": neither form.
  const text = value as string;
  const date = new Date(text);
  return /^\d+$/.test(text)
    ? Number(text) * 1000
    : // Date.parse alone reads most anything (`1.5` is a day in 2001): only the one form that
      // toUTCString() writes, character for character, counts. A date in the past is 0.
      date.toUTCString() === text
      ? Math.max(0, +date - now)
      : undefined;
}
