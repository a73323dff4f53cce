/**
 * Typed errors of the client layer. Each class has a literal `name`, so the `is...` guards work
 * across realms (an error from another frame or a worker fails `instanceof`, not a name check).
 * A transport failure keeps the original error as `cause`.
 *
 * A connection can also end with a `ParseError` from the protocol layer (an endless line: see
 * `maxBufferSize`), or with whatever a callback of yours threw.
 */
import { hasName } from '../protocol/errors.js';

type ClientErrorName =
  | 'ClientError'
  | 'HttpError'
  | 'ContentTypeError'
  | 'NetworkError'
  | 'IdleTimeoutError'
  | 'StreamEndError'
  | 'BodyError'
  | 'ShareLagError';

/** Base class of every error the client layer raises. */
export class ClientError extends Error {
  override name: ClientErrorName = 'ClientError';
}

/**
 * The server answered with a status other than 200 (or 204, which closes the connection
 * cleanly). By default 5xx, 408 and 429 are retried, honouring `Retry-After`; anything else is
 * fatal. Its message says what was asked and what came back: `HTTP 401 Unauthorized: POST
 * https://api.example/chat`.
 */
export class HttpError extends ClientError {
  override name = 'HttpError' as const;
  /** HTTP status code. */
  declare readonly status: number;
  /** The status text (`Unauthorized`); empty over HTTP/2 and HTTP/3, which send none. */
  declare readonly statusText: string;
  /** The URL requested (a reply's URL when the attempt was a resume of one). */
  declare readonly url: string;
  /** The request method. */
  declare readonly method: string;
  /**
   * The response: its headers stay readable (`WWW-Authenticate`, `Retry-After`...); its body
   * has been read in part for {@link HttpError.body} and released.
   */
  declare readonly response: Response;
  /** The start of the response body, at most 1024 characters, for diagnostics. */
  declare readonly body: string;
  /** `Retry-After` in milliseconds from when the response came, when present and valid. */
  declare readonly retryAfter?: number;
  constructor(response: Response, method: string, url: string, body = '', retryAfter?: number) {
    const { status, statusText } = response;
    super(`HTTP ${status}${statusText && ` ${statusText}`}: ${method} ${url}`);
    // Plain assignments: `declare` keeps class fields from being emitted a second time.
    Object.assign(this, { status, statusText, url, method, response, body, retryAfter });
  }
}

/** A 200 response whose `Content-Type` is not `text/event-stream`. Fatal by default. */
export class ContentTypeError extends ClientError {
  override name = 'ContentTypeError' as const;
  /** The `Content-Type` the server sent, or `null` when it sent none. */
  declare readonly contentType: string | null;
  constructor(contentType: string | null) {
    super(`Content-Type ${contentType}`);
    this.contentType = contentType;
  }
}

/**
 * `fetch` failed or the body broke off. The original error is the `cause`; the message names
 * the system error under it when there is one (`ECONNREFUSED 127.0.0.1:3399`, from the `code`,
 * `address` and `port` that Node's fetch puts on its error's `cause`). Retried by default.
 */
export class NetworkError extends ClientError {
  override name = 'NetworkError' as const;
}

/** Nothing arrived, not even a comment, for `idleTimeout` milliseconds. Retried by default. */
export class IdleTimeoutError extends ClientError {
  override name = 'IdleTimeoutError' as const;
}

/**
 * The server ended the stream. Retried by default (the WHATWG model reconnects); with
 * `reconnect: false` the connection instead ends cleanly.
 */
export class StreamEndError extends ClientError {
  override name = 'StreamEndError' as const;
}

/**
 * The request body cannot be sent again on reconnect (a `ReadableStream` or async iterable), or
 * a `GET`/`HEAD` request has a body. Thrown by `connect()` itself, or, when `body` is a
 * function, raised on the attempt and fatal by default.
 */
export class BodyError extends ClientError {
  override name = 'BodyError' as const;
}

/** True for any error raised by the client layer, from any realm. */
export function isClientError(value: unknown): value is ClientError {
  return hasName(value, [
    'ClientError',
    'HttpError',
    'ContentTypeError',
    'NetworkError',
    'IdleTimeoutError',
    'StreamEndError',
    'BodyError',
    'ShareLagError',
  ]);
}

/** True for an {@link HttpError}, from any realm. */
export function isHttpError(value: unknown): value is HttpError {
  return hasName(value, ['HttpError']);
}

/** True for a {@link ContentTypeError}, from any realm. */
export function isContentTypeError(value: unknown): value is ContentTypeError {
  return hasName(value, ['ContentTypeError']);
}

/** True for a {@link NetworkError}, from any realm. */
export function isNetworkError(value: unknown): value is NetworkError {
  return hasName(value, ['NetworkError']);
}

/** True for an {@link IdleTimeoutError}, from any realm. */
export function isIdleTimeoutError(value: unknown): value is IdleTimeoutError {
  return hasName(value, ['IdleTimeoutError']);
}

/** True for a {@link StreamEndError}, from any realm. */
export function isStreamEndError(value: unknown): value is StreamEndError {
  return hasName(value, ['StreamEndError']);
}

/** True for a {@link BodyError}, from any realm. */
export function isBodyError(value: unknown): value is BodyError {
  return hasName(value, ['BodyError']);
}
