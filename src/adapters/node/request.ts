/**
 * node:http `IncomingMessage` (or node:http2 compat `Http2ServerRequest`) -> Web `Request`, so
 * one Web-standard handler serves both worlds.
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Readable } from 'node:stream';
import type { NodeResponse } from './response.js';

/** A node:http or node:http2 (compat API) request. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/**
 * Whether a method is one a Web `Request` refuses to carry (Fetch §2.2.1, "forbidden method":
 * `CONNECT`, `TRACE`, `TRACK`, in any case). {@link toRequest} throws a `TypeError` for them.
 */
export function isForbiddenMethod(method: string | undefined): boolean {
  if (method === undefined || method.length < 5 || method.length > 7) return false;
  const upper = method.toUpperCase();
  return upper === 'CONNECT' || upper === 'TRACE' || upper === 'TRACK';
}

function origin(req: NodeRequest): string {
  const http2 = req as Http2ServerRequest;
  const encrypted = (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
  const scheme = typeof http2.scheme === 'string' ? http2.scheme : encrypted ? 'https' : 'http';
  const host = req.headers[':authority'] ?? req.headers.host;
  return `${scheme}://${typeof host === 'string' && host !== '' ? host : 'localhost'}`;
}

function requestUrl(req: NodeRequest): string {
  const path = req.url ?? '/';
  try {
    return new URL(path, origin(req)).href;
  } catch {
    // A Host header that is not a host (hostile or broken): keep the path, drop the host.
    try {
      return new URL(path, 'http://localhost').href;
    } catch {
      return 'http://localhost/';
    }
  }
}

/**
 * Turns a node request into a Web `Request`. The body (for methods other than GET and HEAD) is
 * streamed from the node request, not buffered. Pass the response too and `request.signal`
 * aborts when the client disconnects before the response has finished.
 *
 * If a middleware already consumed the body (a body parser), the `Request` body is empty: read
 * the parsed body from the middleware instead.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { toRequest, writeResponse } from 'ssekit/node';
 *
 * const app = express();
 * app.post('/chat', async (req, res) => {
 *   const response = await webHandler(toRequest(req, res));
 *   await writeResponse(response, res);
 * });
 * ```
 */
export function toRequest(req: NodeRequest, res?: NodeResponse): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // HTTP/2 pseudo-headers (:method, :path, ...) are not headers of the Request.
    if (name.startsWith(':')) continue;
    try {
      headers.append(name, raw[i + 1]!);
    } catch {
      // node already refuses invalid header names and values on the wire; a value that still
      // fails the Fetch rules is left out rather than failing the whole request.
    }
  }

  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = Readable.toWeb(req as Readable) as ReadableStream<Uint8Array>;
    // Required by fetch for a streamed request body.
    init.duplex = 'half';
  }

  if (res !== undefined) {
    const controller = new AbortController();
    const response = res as { on(event: 'close' | 'finish', listener: () => void): unknown };
    // 'close' without 'finish' first: the connection (or HTTP/2 stream) ended before the
    // response did. (node:http2's compat writableFinished turns true on any close, so it is no help.)
    // Plain `on`, not `once`: each emits once per response anyway, and `once` allocates a bound
    // wrapper per listener, which adds up over tens of thousands of long-lived responses.
    let finished = false;
    response.on('finish', () => {
      finished = true;
    });
    response.on('close', () => {
      if (!finished) controller.abort(new DOMException('The client disconnected', 'AbortError'));
    });
    init.signal = controller.signal;
  }

  return new Request(requestUrl(req), init);
}
