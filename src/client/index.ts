/**
 * `ssekit/client`: consume an event stream in any runtime. {@link connect} is fetch-based, with
 * any method, headers and body, async iteration, and reconnection with `Last-Event-ID`,
 * backoff and jitter; {@link EventSource} is the standard interface on top of it. Imports only
 * the protocol layer, and tree-shakes: `connect` alone does not pull in `EventSource`.
 */

export type { ServerSentEvent } from '../protocol/types.js';
export { type Connection, type ConnectOptions, connect, type ReplayableBody } from './connect.js';
export {
  BodyError,
  ClientError,
  ContentTypeError,
  HttpError,
  IdleTimeoutError,
  isBodyError,
  isClientError,
  isContentTypeError,
  isHttpError,
  isIdleTimeoutError,
  isNetworkError,
  isStreamEndError,
  NetworkError,
  StreamEndError,
} from './errors.js';
export { EventSource, type EventSourceInit, type EventSourceMessageEvent } from './event-source.js';
export {
  backoffDelay,
  isReconnectable,
  parseRetryAfter,
  type ReconnectDecision,
  type ReconnectOptions,
} from './reconnect.js';
