/**
 * Web `Response` -> node:http `ServerResponse` (or node:http2 compat `Http2ServerResponse`),
 * chunk by chunk as the body produces them.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

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
  writeHead(statusCode: number, statusMessage?: string): unknown;
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

// The direct-write protocol of ssekit bodies (see src/hub/outlet.ts): a registered symbol, so
// this adapter needs no import from the layers that produce such bodies.
const DIRECT_WRITE = Symbol.for('ssekit.directWrite');

interface DirectTarget {
  write(chunk: Uint8Array): void;
  readonly queuedBytes: number;
  end(): void;
  abort(): void;
  readonly frame?: ((chunk: Uint8Array) => Uint8Array) | undefined;
}
type DirectWriteHook = (target: DirectTarget) => { cancel(reason?: unknown): void } | undefined;

interface SocketLike {
  write(chunk: Uint8Array): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
}

const CRLF = new Uint8Array([13, 10]);

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
  out.set(CRLF, size.length + 2 + chunk.byteLength);
  return out;
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
 * chunk by chunk as it is produced. Each `write()`'s return value is respected (the body is not
 * read again until `'drain'`), and `res.flush()` is called after each chunk when a compression
 * middleware provides it. When the client disconnects, the body is cancelled, which aborts an
 * event stream's `signal`.
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
export async function writeResponse(
  response: Response,
  nodeResponse: NodeResponse,
  options: WriteResponseOptions = {},
): Promise<void> {
  const res = nodeResponse as unknown as ResponseLike;
  const onError = options.onError ?? defaultOnError;
  const http2 = res.stream !== undefined;

  // Set before anything else so a disconnect at any point below is seen.
  const reportUnexpected = (error: unknown): void => {
    if (!isExpectedEnd(error)) onError(error);
  };
  const body = response.body;
  // A body that can write directly is not locked by a reader until it declines (below).
  const directHook =
    http2 || body === null ? undefined : (body as unknown as Record<symbol, unknown>)[DIRECT_WRITE];
  let reader = typeof directHook === 'function' ? undefined : body?.getReader();
  let gone = res.destroyed === true;
  // Our own flag: node:http2's compat response reports writableFinished once its stream closes,
  // even when it was reset by the client before the end.
  let ended = false;
  let wake: (() => void) | null = null;
  // Set when the body writes directly: tells it the client left.
  let onDirectGone: ((error?: unknown) => void) | undefined;
  const onGone = (error?: unknown): void => {
    if (gone || ended) return;
    gone = true;
    wake?.();
    if (onDirectGone !== undefined) {
      onDirectGone(error);
      return;
    }
    // Cancelling at once (even while a read is pending) reaches the producer now, not at its
    // next event: an event stream's signal aborts, a source's return() runs.
    reader?.cancel(error).catch(reportUnexpected);
  };
  const onClose = (): void => onGone();
  // Without a listener an 'error' on the response would crash the process; it means the
  // connection is unusable, like a disconnect.
  const onResponseError = (error: unknown): void => onGone(error);
  res.on('close', onClose);
  res.on('error', onResponseError);

  try {
    if (!res.headersSent && !gone) {
      res.statusCode = response.status;
      const cookies = response.headers.getSetCookie();
      response.headers.forEach((value, name) => {
        if (name === 'set-cookie') return;
        if (http2 && CONNECTION_SPECIFIC.has(name)) return;
        res.setHeader(name, value);
      });
      if (cookies.length > 0) res.setHeader('set-cookie', cookies);
      // HTTP/2 has no status text; node warns when given one.
      if (!http2 && response.statusText !== '') res.writeHead(response.status, response.statusText);
      else res.writeHead(response.status);
      res.flushHeaders();
    }
    if (body === null) {
      if (!gone) {
        ended = true;
        res.end();
      }
      return;
    }
    const flush = typeof res.flush === 'function' ? (res.flush as () => void) : undefined;
    if (typeof directHook === 'function' && !gone && flush === undefined) {
      const direct = writeDirect(res, directHook as DirectWriteHook, (cancel) => {
        onDirectGone = cancel;
      });
      if (direct !== undefined) {
        await direct;
        ended = true;
        return;
      }
    }
    if (gone) {
      // The client left before a direct-writing body was attached: tell the body.
      if (reader === undefined) await body.cancel().catch(reportUnexpected);
      return;
    }
    reader ??= body.getReader();
    while (!gone) {
      const { done, value } = await reader.read();
      if (done || gone) break;
      const hasRoom = res.write(value);
      flush?.call(res);
      if (!hasRoom && !gone) {
        await new Promise<void>((resolve) => {
          const onDrain = (): void => {
            wake = null;
            res.off('drain', onDrain);
            resolve();
          };
          wake = onDrain;
          res.on('drain', onDrain);
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

/**
 * The direct path: a body that offers it (a hub subscriber) writes its bytes straight into the
 * socket, framed as HTTP/1.1 chunks by this adapter, with no stream read per chunk. Fan-out to
 * thousands of responses then costs one socket write each, and the framing of a shared chunk is
 * computed once. Only on node:http with the socket attached and no middleware wrapping `write`
 * (compression's `flush`); otherwise the body is read as a stream. Resolves when the response
 * ends or the client goes; `undefined` when the body declined (it was already being read).
 */
function writeDirect(
  res: ResponseLike,
  hook: DirectWriteHook,
  setGone: (cancel: (error?: unknown) => void) => void,
): Promise<void> | undefined {
  const socket = res.socket as SocketLike | null | undefined;
  if (socket === null || socket === undefined || typeof socket.write !== 'function') return undefined;
  if (res.req?.method === 'HEAD') return undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  let over = false;
  const target: DirectTarget = {
    write(chunk) {
      // After the end or a disconnect the bytes have nowhere to go; the body learns through
      // cancel() (or already ended itself).
      if (!over && !socket.destroyed) socket.write(chunk);
    },
    get queuedBytes() {
      return socket.writableLength;
    },
    end() {
      if (over) return;
      over = true;
      res.end();
      done();
    },
    abort() {
      // Only while this response owns the connection: after a clean end it may serve the next
      // request (keep-alive).
      if (res.writableFinished !== true && !res.destroyed) res.destroy();
      if (!over) {
        over = true;
        done();
      }
    },
    // Headers are out (flushHeaders above): chunked unless the peer speaks HTTP/1.0.
    frame: res.chunkedEncoding === true ? frameChunk : undefined,
  };
  const attachment = hook(target);
  if (attachment === undefined) return undefined;
  setGone((error) => {
    if (!over) {
      over = true;
      attachment.cancel(error);
      done();
    }
  });
  return finished;
}
