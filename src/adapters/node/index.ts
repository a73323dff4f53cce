/**
 * `ssekit/node`: the adapter between node:http (and so Express, Fastify's raw reply, Next.js
 * Pages Router API routes) or node:http2's compat API, and Web-standard handlers.
 */
import { createEventStream, type EventStream, type EventStreamOptions } from '../../server/event-stream.js';
import { isForbiddenMethod, type NodeRequest, toRequest } from './request.js';
import {
  defaultOnError,
  type NodeResponse,
  sendResponse,
  type WriteResponseOptions,
  writeResponse,
} from './response.js';

export {
  type ClusterBrokerOptions,
  type ClusterBrokerServer,
  createClusterBroker,
  type IpcChannel,
  serveClusterBroker,
} from './cluster.js';
export { openFilesLimit, type SubscriberCapacityOptions, subscriberCapacity } from './limits.js';
export { isForbiddenMethod, type NodeRequest, toRequest } from './request.js';
export { type NodeResponse, type WriteResponseOptions, writeResponse } from './response.js';

/** What the adapter knows about a request that a Web `Request` does not carry. */
export interface NodeRequestContext {
  /** The peer's IP address (`socket.remoteAddress`), if the socket still has one. */
  clientAddress?: string;
}

/** A Web handler as {@link createRequestListener} calls it. */
export type WebHandler = (request: Request, context: NodeRequestContext) => Response | Promise<Response>;

/** Options of {@link createRequestListener}. */
export interface RequestListenerOptions {
  /** Called when the handler throws or the response fails. Default: `console.error`. */
  onError?: (error: unknown) => void;
  /**
   * Give each `Request` a `signal` that aborts when the client disconnects. Default `true`.
   * `false` saves an AbortController and two listeners per open response, which matters for
   * handlers that hold tens of thousands of idle streams and learn of disconnects otherwise
   * (a hub: the adapter cancels the response body when the client leaves).
   */
  requestSignal?: boolean;
  /**
   * The `Allow` header of the `405` answered, without calling the handler, to the methods a Web
   * `Request` cannot carry (`CONNECT`, `TRACE`, `TRACK`: Fetch's forbidden methods). Default
   * `'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'`; name the methods your handler serves.
   */
  allow?: string;
}

/**
 * Wraps a Web handler (`Request` -> `Response`) as a node:http / node:http2 request listener.
 * A handler that throws gets a bare 500 (no details reach the client) and `onError`. The second
 * argument carries what `Request` cannot, such as the client's address (for per-client limits:
 * `createRequestListener(hub.handler)`).
 *
 * `TRACE`, `TRACK` and `CONNECT`, which a Web `Request` cannot carry, get `405` with `Allow`
 * (see {@link RequestListenerOptions.allow}) and never reach the handler or `onError`. (node:http
 * hands `CONNECT` to the server's `'connect'` event, not to a request listener.) An answer
 * sent before the request body has fully arrived (a `413` from its `Content-Length`, a `401`
 * before the upload) closes the HTTP/1 connection after it (`Connection: close`), instead of
 * leaving node to read and discard the rest of a body that may be trickling in.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { streamEvents } from 'ssekit/server';
 * import { createRequestListener } from 'ssekit/node';
 *
 * createServer(createRequestListener((request) =>
 *   streamEvents(['hello', 'world'], { signal: request.signal }),
 * )).listen(3000);
 * ```
 */
export function createRequestListener(
  handler: WebHandler,
  options: RequestListenerOptions = {},
): (req: NodeRequest, res: NodeResponse) => void {
  const onError = options.onError ?? defaultOnError;
  const signal = options.requestSignal !== false;
  const allow = options.allow ?? 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
  return (req, res) => {
    if (isForbiddenMethod(req.method)) {
      // No Request can be made for them (Fetch §2.2.1, "forbidden method"), so there is nothing
      // to hand the handler, and nothing to report either: a scanner sending TRACE would
      // otherwise write one error line per request.
      res.statusCode = 405;
      res.setHeader('allow', allow);
      closeAfterAnswer(req, res);
      res.end();
      return;
    }
    void serve(handler, req, res, onError, signal);
  };
}

/**
 * HTTP/1 only: an answer sent before the request body was fully received ends the connection.
 * Without it node keeps the connection for the next request and reads the rest of the body to
 * find where that request starts, for as long as the client takes to send it. (HTTP/2 ends only
 * the stream, and forbids the `Connection` header.)
 */
function closeAfterAnswer(req: NodeRequest, res: NodeResponse): void {
  if (req.httpVersionMajor !== 1 || req.complete) return;
  // `complete` turns true only after the listener has run, even for a request without a body.
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return;
  const response = res as { headersSent: boolean; setHeader(name: string, value: string): unknown };
  if (!response.headersSent) response.setHeader('connection', 'close');
}

async function serve(
  handler: WebHandler,
  req: NodeRequest,
  res: NodeResponse,
  onError: (error: unknown) => void,
  signal: boolean,
): Promise<void> {
  let response: Response;
  try {
    const clientAddress = req.socket?.remoteAddress;
    const request = signal ? toRequest(req, res) : toRequest(req);
    response = await handler(request, clientAddress === undefined ? {} : { clientAddress });
  } catch (error) {
    onError(error);
    if (!res.headersSent) {
      res.statusCode = 500;
      closeAfterAnswer(req, res);
      res.end();
    } else {
      res.destroy();
    }
    return;
  }
  closeAfterAnswer(req, res);
  // Not awaited: this frame (and the Response it holds) is released at once, and a response on
  // the direct path keeps no promise for it.
  sendResponse(response, res, { onError });
}

/**
 * Opens an event stream straight on a node response: {@link createEventStream} plus
 * {@link writeResponse}, with the stream's `signal` aborting when the client disconnects.
 * The shape for Express routes and Next.js Pages Router API routes.
 *
 * @example
 * ```ts
 * // pages/api/clock.ts (Next.js Pages Router)
 * import type { NextApiRequest, NextApiResponse } from 'next';
 * import { sendEventStream } from 'ssekit/node';
 *
 * export default function handler(req: NextApiRequest, res: NextApiResponse) {
 *   const stream = sendEventStream(res);
 *   const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * }
 * ```
 */
export function sendEventStream(
  res: NodeResponse,
  options?: EventStreamOptions & WriteResponseOptions,
): EventStream {
  const stream = createEventStream(options);
  void writeResponse(stream.response, res, options);
  return stream;
}
