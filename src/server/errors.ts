/**
 * Typed errors of the server layer. Each class has a literal `name`, so the `is...` guards work
 * across realms (an error from another frame or a worker fails `instanceof`, not a name check).
 */
import { hasName } from '../protocol/errors.js';

/** Base class of every error the server layer raises. */
export class ServerError extends Error {
  override name: 'ServerError' | 'StreamClosedError' | 'LastEventIdError' | 'RequestBodyError' =
    'ServerError';
}

/**
 * Why an event stream ended:
 * - `'closed'`: the server called `close()` (or the source of `streamEvents` finished);
 * - `'client-gone'`: the consumer cancelled the body (the client disconnected) or the abort
 *   signal passed in `options.signal` fired;
 * - `'overflow'`: more than `maxQueuedBytes` were waiting for a slow client and the overflow
 *   policy is `'close'`;
 * - `'source-error'`: the source of `streamEvents` threw.
 */
export type StreamClosedReason = 'closed' | 'client-gone' | 'overflow' | 'source-error';

/** The reason of an event stream's `signal` once it aborts: see {@link StreamClosedReason}. */
export class StreamClosedError extends ServerError {
  override name = 'StreamClosedError' as const;
  readonly type: StreamClosedReason;
  constructor(type: StreamClosedReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** What was wrong with a Last-Event-ID value. */
export type LastEventIdErrorType = 'too-long' | 'control-character' | 'invalid-utf8';

/** A Last-Event-ID header or query parameter that {@link readLastEventId} refused. */
export class LastEventIdError extends ServerError {
  override name = 'LastEventIdError' as const;
  readonly type: LastEventIdErrorType;
  constructor(type: LastEventIdErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** What was wrong with a request body read by `readBody`. */
export type RequestBodyErrorType = 'too-large' | 'unreadable' | 'invalid-utf8';

/** A request body that `readBody` (or `readBodyText`) refused. */
export class RequestBodyError extends ServerError {
  override name = 'RequestBodyError' as const;
  readonly type: RequestBodyErrorType;
  constructor(type: RequestBodyErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** True for any error raised by the server layer, from any realm. */
export function isServerError(value: unknown): value is ServerError {
  return hasName(value, ['ServerError', 'StreamClosedError', 'LastEventIdError', 'RequestBodyError']);
}

/** True for a {@link RequestBodyError}, from any realm. */
export function isRequestBodyError(value: unknown): value is RequestBodyError {
  return hasName(value, ['RequestBodyError']);
}

/** True for a {@link StreamClosedError}, from any realm. */
export function isStreamClosedError(value: unknown): value is StreamClosedError {
  return hasName(value, ['StreamClosedError']);
}

/** True for a {@link LastEventIdError}, from any realm. */
export function isLastEventIdError(value: unknown): value is LastEventIdError {
  return hasName(value, ['LastEventIdError']);
}
