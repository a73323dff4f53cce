/**
 * The headers an event stream needs to reach the client unbuffered, defined once, and the
 * Response construction that applies them.
 */

/**
 * Response headers of every event stream, frozen. They are the reason a stream "streams":
 *
 * - `Content-Type: text/event-stream; charset=utf-8`: the MIME type EventSource requires
 *   (WHATWG HTML §9.2.3: anything else fails the connection); the stream is always UTF-8.
 * - `Cache-Control: no-cache, no-transform`: no cache may replay a live stream, and
 *   `no-transform` tells proxies and the `compression` middleware (which honours it) not to
 *   compress, since a compressor holds bytes back until its window fills.
 * - `X-Accel-Buffering: no`: nginx (and proxies copying it) would otherwise buffer the body.
 * - `X-Content-Type-Options: nosniff`: a browser never reads the stream as anything else (a
 *   script or a page) whatever an event's data looks like.
 *
 * No `Connection` header: HTTP/1.1 keeps the connection alive by default and HTTP/2 forbids
 * connection-specific headers.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { SSE_HEADERS } from 'ssekit/server';
 *
 * createServer((req, res) => {
 *   res.writeHead(200, SSE_HEADERS);
 *   res.write('data: hello\n\n');
 * }).listen(8080);
 * ```
 */
export const SSE_HEADERS: Readonly<{
  'content-type': string;
  'cache-control': string;
  'x-accel-buffering': string;
  'x-content-type-options': string;
}> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
});

/**
 * {@link SSE_HEADERS} as a fresh `Headers`, with the caller's headers merged over them (a header
 * the caller sets replaces the default of the same name).
 *
 * @example
 * ```ts
 * const headers = sseHeaders({ 'access-control-allow-origin': '*' });
 * ```
 */
// `RequestInit['headers']`, not `HeadersInit`: the latter is a DOM and worker lib name that a
// Node-only project (@types/node, no DOM) lacks; this one is what the platform's `Headers`
// takes wherever these declarations are read.
export function sseHeaders(headers?: RequestInit['headers']): Headers {
  const out = new Headers(SSE_HEADERS);
  if (headers !== undefined) {
    const given = new Headers(headers);
    given.forEach((value, name) => {
      out.set(name, value);
    });
    // forEach joins Set-Cookie values with ", ", which breaks cookies: copy them one by one.
    const cookies = given.getSetCookie?.() ?? [];
    if (cookies.length > 1) {
      out.delete('set-cookie');
      for (const cookie of cookies) out.append('set-cookie', cookie);
    }
  }
  return out;
}

/** Options of {@link sseResponse}. */
export interface SseResponseOptions {
  /** HTTP status; 200 by default. */
  status?: number;
  /** HTTP status text. */
  statusText?: string;
  /** Extra headers, merged over {@link SSE_HEADERS}. */
  headers?: RequestInit['headers'];
}

/**
 * Wraps an event-stream body in a `Response` with {@link SSE_HEADERS}. Most code wants
 * `createEventStream` or `streamEvents` instead; this is for a body you encoded yourself.
 *
 * @example
 * ```ts
 * import { encodeEventBytes } from 'ssekit';
 * import { sseResponse } from 'ssekit/server';
 *
 * export function GET() {
 *   const body = new ReadableStream<Uint8Array>({
 *     start(controller) {
 *       controller.enqueue(encodeEventBytes({ data: 'hello' }));
 *       controller.close();
 *     },
 *   });
 *   return sseResponse(body, { headers: { 'access-control-allow-origin': '*' } });
 * }
 * ```
 */
export function sseResponse(
  body: ReadableStream<Uint8Array> | null,
  options: SseResponseOptions = {},
): Response {
  const responseInit: ResponseInit = { status: options.status ?? 200, headers: sseHeaders(options.headers) };
  if (options.statusText !== undefined) responseInit.statusText = options.statusText;
  return new Response(body, responseInit);
}
