/**
 * `ssekit/server`: producing an event stream on Web standards only (Request, Response,
 * ReadableStream). Runs wherever a route handler returns a `Response`: Next.js App Router,
 * Hono, Deno, Bun, Cloudflare Workers, and Node through `ssekit/node`.
 */

export { type ReadBodyOptions, readBody, readBodyText } from './body.js';
export {
  isLastEventIdError,
  isRequestBodyError,
  isServerError,
  isStreamClosedError,
  LastEventIdError,
  type LastEventIdErrorType,
  RequestBodyError,
  type RequestBodyErrorType,
  ServerError,
  StreamClosedError,
  type StreamClosedReason,
} from './errors.js';
export {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type OverflowPolicy,
} from './event-stream.js';
export { type ReadLastEventIdOptions, type RequestLike, readLastEventId } from './last-event-id.js';
export { SSE_HEADERS, type SseResponseOptions, sseHeaders, sseResponse } from './response.js';
export {
  type EventIterable,
  type StreamEventsOptions,
  type StreamItem,
  streamEvents,
} from './stream-events.js';
