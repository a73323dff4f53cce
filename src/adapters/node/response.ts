/**
 * Web `Response` -> node:http `ServerResponse` (or node:http2 compat `Http2ServerResponse`),
 * chunk by chunk as the body produces them.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { type DirectAttachment, type DirectTarget, getDirectWriteHook } from '../../server/direct-write.js';

/** A node:http or node:http2 (compat API) response. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** Options of {@link writeResponse}. */
export interface WriteResponseOptions {
  /**
   * Called with an unexpected error: the body stream failed for another reason than the
   * client going away or the event stream's own overflow policy. The response is then ended
   * abruptly. Default: `console.error`.
   */
  onError?: (error: unknown) => void;
}

// The members both response classes share; a union of their overloads is not callable in TS.
interface ResponseLike {
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  setHeader(name: string, value: string | string[]): unknown;
  writeHead(statusCode: number, statusMessage?: string, headers?: Record<string, string | string[]>): unknown;
  writeHead(statusCode: number, headers?: Record<string, string | string[]>): unknown;
  flushHeaders(): void;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  // node:http only (the direct-write path below).
  socket?: unknown;
  req?: { method?: string };
  chunkedEncoding?: boolean;
  readonly writableFinished?: boolean;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  stream?: unknown;
  // Added by the `compression` middleware: pushes what its compressor holds to the socket.
  flush?: unknown;
}

// RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2 (node throws on them).
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

export function defaultOnError(error: unknown): void {
  console.error('ssekit/node: the response failed', error);
}

/** Status and headers at once (`flushHeaders`), so the client's `open` fires before the first event. */
function writeHead(response: Response, res: ResponseLike, http2: boolean): void {
  // One object handed to writeHead, not setHeader per header: node then formats the head
  // without keeping a header table for the life of the response.
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie') return;
    if (http2 && CONNECTION_SPECIFIC.has(name)) return;
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  // HTTP/2 has no status text; node warns when given one.
  if (!http2 && response.statusText !== '') res.writeHead(response.status, response.statusText, headers);
  else res.writeHead(response.status, headers);
  res.flushHeaders();
}

interface SocketLike {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Something wraps the response's `write` and must see every byte: a middleware that replaced it
 * on the response (its own `write`), or a compression middleware (which also adds `flush`).
 */
function wrapsWrite(res: ResponseLike): boolean {
  return res.flush !== undefined || Object.hasOwn(res, 'write');
}

/**
 * The socket of a node:http/1.1 response whose body may be written to it directly, framed here:
 * headers sent, a chunked body, and nothing wrapping `write` (see {@link wrapsWrite}).
 */
function rawSocketOf(res: ResponseLike): SocketLike | undefined {
  // No socket yet while a pipelined request's response waits for the one before it to end.
  const socket = res.socket as SocketLike | null | undefined;
  if (socket === null || socket === undefined || socket.destroyed) return undefined;
  if (res.stream !== undefined || wrapsWrite(res)) return undefined;
  // Not chunked: HTTP/1.0 (the body ends with the connection), or no body at all (HEAD, 204, 304).
  if (!res.headersSent || res.chunkedEncoding !== true) return undefined;
  return socket;
}

/**
 * One HTTP/1.1 chunk (RFC 9112 §7.1): size in hex, CRLF, the bytes, CRLF, as one buffer. The
 * same function object for every response, so a body written to many responses is framed once.
 */
function frameChunk(chunk: Uint8Array): Uint8Array {
  const size = chunk.byteLength.toString(16);
  const out = new Uint8Array(size.length + 2 + chunk.byteLength + 2);
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i);
  out[size.length] = 13;
  out[size.length + 1] = 10;
  out.set(chunk, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/**
 * The direct path: a body that offers it (a hub subscriber) writes its bytes straight into the
 * socket, framed as HTTP/1.1 chunks here, with no stream read per chunk. Fan-out to thousands of
 * responses then costs one socket write each, and the framing of a chunk shared by many responses
 * is computed once. A small object per response, no promise chain, no reference to the `Response`
 * once attached: tens of thousands of idle subscribers stay cheap.
 *
 * Only on node:http with the socket attached and nothing wrapping `write` (see
 * {@link wrapsWrite}); `undefined` otherwise, or when the body declines: it is then read as a
 * stream.
 */
function writeDirect(response: Response, res: ResponseLike): DirectResponse | undefined {
  const body = response.body;
  if (body === null || res.stream !== undefined || wrapsWrite(res)) return undefined;
  const hook = getDirectWriteHook(body);
  const socket = res.socket as SocketLike | null | undefined;
  if (hook === undefined || socket === null || socket === undefined) return undefined;
  if (res.headersSent || res.destroyed || res.req?.method === 'HEAD') return undefined;
  // Corked, the head and what the body has ready (a hub's opening comment, a replay) leave in
  // one write, not one each.
  socket.cork();
  try {
    writeHead(response, res, false);
    const target = new DirectResponse(res, socket);
    const attachment = hook(target);
    // Declined (already being read): the streaming path takes over; headers are out already.
    if (attachment === undefined) return undefined;
    target.attached(attachment);
    return target;
  } finally {
    socket.uncork();
  }
}

// The response's DirectResponse, kept on the response itself so that one listener function
// serves every response (node calls listeners with `this` = the emitter): no closure per
// response.
const DIRECT_RESPONSE = Symbol('ssekit.directResponse');

function onDirectGone(this: ResponseLike, error?: unknown): void {
  (this as unknown as Record<symbol, DirectResponse | undefined>)[DIRECT_RESPONSE]?.gone(error);
}

/**
 * One response on the direct path. Idle, it holds its response, socket and the body's
 * attachment: no promise (one is made only when someone asks when it is over, see `finished`),
 * no closure.
 */
class DirectResponse implements DirectTarget {
  readonly frame: ((chunk: Uint8Array) => Uint8Array) | undefined;
  readonly #res: ResponseLike;
  readonly #socket: SocketLike;
  #done: (() => void) | undefined;
  #over = false;
  #attachment: DirectAttachment | undefined;

  constructor(res: ResponseLike, socket: SocketLike) {
    this.#res = res;
    this.#socket = socket;
    // Headers are out: chunked unless the peer speaks HTTP/1.0 (then the body ends with the
    // connection).
    this.frame = res.chunkedEncoding === true ? frameChunk : undefined;
  }

  /** Settles once the response has ended or the client has gone. */
  finished(): Promise<void> {
    if (this.#over) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const before = this.#done;
      this.#done =
        before === undefined
          ? resolve
          : () => {
              before();
              resolve();
            };
    });
  }

  attached(attachment: DirectAttachment): void {
    this.#attachment = attachment;
    // A disconnect, or an 'error' (which would otherwise crash the process): the body must stop.
    (this.#res as unknown as Record<symbol, DirectResponse>)[DIRECT_RESPONSE] = this;
    this.#res.on('close', onDirectGone);
    this.#res.on('error', onDirectGone);
    if (this.#res.destroyed) this.gone();
  }

  write(chunk: Uint8Array): void {
    // After the end or a disconnect the bytes have nowhere to go; the body already knows.
    if (!this.#over && !this.#socket.destroyed) this.#socket.write(chunk);
  }

  get queuedBytes(): number {
    return this.#socket.writableLength;
  }

  end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#res.off('close', onDirectGone);
    this.#res.end();
    this.#settle();
  }

  abort(): void {
    // Only while this response owns the connection: after a clean end it may be serving the
    // next request (keep-alive).
    if (this.#res.writableFinished !== true && !this.#res.destroyed) this.#res.destroy();
    if (!this.#over) {
      this.#over = true;
      this.#settle();
    }
  }

  gone(error?: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.#attachment?.cancel(error);
    this.#settle();
  }

  #settle(): void {
    const done = this.#done;
    this.#done = undefined;
    this.#attachment = undefined;
    done?.();
  }
}

function isExpectedEnd(error: unknown): boolean {
  // The event stream's own policies end the body with a StreamClosedError (overflow: the
  // client was too slow; client-gone: it left). Checked by name so it works across bundles.
  return (
    typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'StreamClosedError'
  );
}

/**
 * Writes a Web `Response` to a node:http (or node:http2 compat) response: status and headers at
 * once (`flushHeaders`, so the client's `open` fires before the first event), then the body
 * chunk by chunk as it is produced: on node:http/1.1, each chunk straight to the socket as one
 * framed HTTP/1.1 chunk, unless something wraps `res.write` (a middleware's own `write`, or a
 * compression middleware's `flush`), which then gets every chunk. Each write's return value is
 * respected (the body is not read again until `'drain'`), and `res.flush()` is called after each
 * chunk when a compression middleware provides it. When the client disconnects, the body is
 * cancelled, which aborts an event stream's `signal`.
 *
 * Resolves once the response has ended or the client has gone; never rejects (unexpected
 * errors go to `options.onError`).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createEventStream } from 'ssekit/server';
 * import { writeResponse } from 'ssekit/node';
 *
 * createServer((req, res) => {
 *   const stream = createEventStream();
 *   void writeResponse(stream.response, res);
 *   void stream.send({ data: 'hello' });
 * }).listen(3000);
 * ```
 */
export function writeResponse(
  response: Response,
  nodeResponse: NodeResponse,
  options: WriteResponseOptions = {},
): Promise<void> {
  const res = nodeResponse as unknown as ResponseLike;
  return writeDirect(response, res)?.finished() ?? writeStreamed(response, res, options);
}

/**
 * {@link writeResponse} for callers that do not wait for the end (`createRequestListener`): on
 * the direct path nothing is kept for the caller, so an idle response holds no promise.
 */
export function sendResponse(
  response: Response,
  nodeResponse: NodeResponse,
  options: WriteResponseOptions,
): void {
  const res = nodeResponse as unknown as ResponseLike;
  if (writeDirect(response, res) === undefined) void writeStreamed(response, res, options);
}

async function writeStreamed(
  response: Response,
  res: ResponseLike,
  options: WriteResponseOptions,
): Promise<void> {
  const onError = options.onError ?? defaultOnError;
  const http2 = res.stream !== undefined;

  const reportUnexpected = (error: unknown): void => {
    if (!isExpectedEnd(error)) onError(error);
  };
  const reader = response.body?.getReader();
  let gone = false;
  // Our own flag: node:http2's compat response reports writableFinished once its stream closes,
  // even when it was reset by the client before the end.
  let ended = false;
  let wake: (() => void) | null = null;
  const onGone = (error?: unknown): void => {
    if (gone || ended) return;
    gone = true;
    wake?.();
    // Cancelling at once (even while a read is pending) reaches the producer now, not at its
    // next event: an event stream's signal aborts, a source's return() runs.
    reader?.cancel(error).catch(reportUnexpected);
  };
  const onClose = (): void => onGone();
  // Without a listener an 'error' on the response would crash the process; it means the
  // connection is unusable, like a disconnect.
  const onResponseError = (error: unknown): void => onGone(error);
  // Listening before anything is written, so a disconnect at any point below is seen.
  res.on('close', onClose);
  res.on('error', onResponseError);
  if (res.destroyed === true) onGone();
  // The body can fail while we wait for 'drain' rather than for a read (a hub cutting a
  // subscriber that stopped reading, an event stream past its overflow bound): wake then, so the
  // next read rejects and the response is destroyed. Otherwise a peer that reads nothing holds
  // the response, and its connection, forever.
  let failed = false;
  reader?.closed.then(undefined, () => {
    failed = true;
    wake?.();
  });

  try {
    if (!res.headersSent && !gone) writeHead(response, res, http2);
    if (reader === undefined) {
      if (!gone) {
        ended = true;
        res.end();
      }
      return;
    }
    const flush = typeof res.flush === 'function' ? (res.flush as () => void) : undefined;
    // On node:http/1.1, each chunk goes to the socket as one framed buffer: `res.write` would cork
    // the socket, queue the size line, the chunk and its CRLF as three writes, and uncork on the
    // next tick, for every chunk. Backpressure is then the socket's own.
    const socket = http2 ? undefined : rawSocketOf(res);
    const drains = (socket ?? res) as Pick<ResponseLike, 'on' | 'off'>;
    while (!gone) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      const hasRoom = socket !== undefined ? socket.write(frameChunk(value)) : res.write(value);
      flush?.call(res);
      if (!hasRoom && !gone && !failed) {
        await new Promise<void>((resolve) => {
          const onDrain = (): void => {
            wake = null;
            drains.off('drain', onDrain);
            resolve();
          };
          wake = onDrain;
          drains.on('drain', onDrain);
        });
      }
    }
    if (!gone) {
      ended = true;
      res.end();
    }
  } catch (error) {
    // The body failed (an event stream past its overflow bound, or a broken source): end the
    // response abruptly so the client sees an incomplete stream, not a clean end, and reconnects.
    reportUnexpected(error);
    if (!res.destroyed) res.destroy();
  } finally {
    res.off('close', onClose);
    // The 'error' listener stays: a dead connection may still emit one, and it must not crash.
  }
}
