/**
 * `ssekit/node`: the adapter between node:http (and so Express, Fastify's raw reply, Next.js
 * Pages Router API routes) or node:http2's compat API, and Web-standard handlers.
 */
import { createEventStream, type EventStream, type EventStreamInit } from '../../server/event-stream.js';
import { type NodeRequest, toRequest } from './request.js';
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
export { type NodeRequest, toRequest } from './request.js';
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
}

/**
 * Wraps a Web handler (`Request` -> `Response`) as a node:http / node:http2 request listener.
 * A handler that throws gets a bare 500 (no details reach the client) and `onError`. The second
 * argument carries what `Request` cannot, such as the client's address (for per-client limits:
 * `createRequestListener(hub.handler)`).
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
  return (req, res) => {
    void serve(handler, req, res, onError, signal);
  };
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
      res.end();
    } else {
      res.destroy();
    }
    return;
  }
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
 * import { sendEventStream } from 'ssekit/node';
 *
 * export default function handler(req, res) {
 *   const stream = sendEventStream(res);
 *   const timer = setInterval(() => stream.send({ data: new Date().toISOString() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * }
 * ```
 */
export function sendEventStream(
  res: NodeResponse,
  init?: EventStreamInit & WriteResponseOptions,
): EventStream {
  const stream = createEventStream(init);
  void writeResponse(stream.response, res, init);
  return stream;
}
