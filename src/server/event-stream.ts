/**
 * A writer over a `ReadableStream` body: the server half of WHATWG HTML §9.2 (Server-sent
 * events). Route handlers return `response` at once while a producer keeps calling `send`.
 *
 * How bytes move: `send` encodes the event to text and appends it to a batch; the batch is
 * handed to the stream (one `enqueue`) once the producer pauses for a few microtasks or the
 * batch reaches 16 KiB. A producer that sends many events in a row thus costs one chunk, one
 * `read()` and one socket write per batch, not per event, while a lone event still leaves
 * within the same macrotask.
 */
import { EMPTY_COMMENT, encodeEvent } from '../protocol/encode.js';
import type { OutgoingEvent } from '../protocol/types.js';
import { StreamClosedError, type StreamClosedReason } from './errors.js';
import { checkNumber } from './options.js';
import { type SseResponseOptions, sseResponse } from './response.js';

/** What happens when a slow client lets more than `maxQueuedBytes` pile up. */
export type OverflowPolicy = 'close' | 'drop';

/** Options of {@link createEventStream}. */
export interface EventStreamOptions extends SseResponseOptions {
  /**
   * Milliseconds between heartbeat comments (`:` lines the client ignores) that keep idle
   * connections open through proxies and runtimes that cut silent ones (Bun after 10 s, AWS ALB
   * after 60 s). `false` turns them off. Default `10_000`, and `5_000` under Bun (a heartbeat
   * every 10 s races Bun's 10 s idle timeout and loses).
   */
  heartbeat?: number | false;
  /** A reconnection delay hint (ms) sent as the very first bytes (`retry:` field, §9.2.6). */
  retry?: number;
  /**
   * Bytes queued for the client above which `send` stops resolving at once and waits for the
   * client to read. Default 64 KiB.
   */
  highWaterMark?: number;
  /**
   * Hard bound on bytes queued for the client (including what producers sent without awaiting).
   * Past it, {@link EventStreamOptions.overflow} applies. Default 1 MiB; at least `highWaterMark`.
   */
  maxQueuedBytes?: number;
  /**
   * Policy past `maxQueuedBytes`:
   * - `'close'` (default): drop everything queued and end the response abruptly, so the client
   *   reconnects and resumes from its Last-Event-ID; `signal` aborts with reason `'overflow'`.
   * - `'drop'`: refuse the event (`send` resolves `false`) and keep the stream open.
   *
   * A single event larger than `maxQueuedBytes` can never be queued: it triggers the policy.
   */
  overflow?: OverflowPolicy;
  /**
   * Ends the stream as `'client-gone'` when it aborts: pass the request's signal in runtimes
   * that abort it on disconnect (Next.js, Deno, Bun), in addition to body cancellation.
   */
  signal?: AbortSignal;
}

/** A live event stream; see {@link createEventStream}. */
export interface EventStream {
  /** The `Response` to return from the route handler: status, SSE headers and the body. */
  readonly response: Response;
  /**
   * Aborts when the stream ends for any reason; `signal.reason` is a `StreamClosedError` whose
   * `type` says why ('client-gone' when the client disconnected). Hand it to upstream work
   * (`fetch(llmUrl, { signal })`) so it stops with the client.
   */
  readonly signal: AbortSignal;
  /** True once the stream has ended; sends are then no-ops that resolve `false`. */
  readonly closed: boolean;
  /**
   * Bytes waiting for the client (text not yet handed to the stream is counted in UTF-16 code
   * units; it is flushed at 16 KiB, so the difference stays small).
   */
  readonly bufferedAmount: number;
  /**
   * Queues one event (a string is shorthand for `{ data }`). Resolves `true` when there is room
   * for more (at once while less than `highWaterMark` is queued, otherwise once the client has
   * read enough), `false` when the event was not queued: the stream is closed, or the overflow
   * policy refused it. Never rejects. Throws `EncodeError` synchronously for an event that would
   * forge fields (CR/LF in `event` or `id`, ...), a bug in the caller.
   */
  send(event: OutgoingEvent | string): Promise<boolean>;
  /**
   * Queues text or bytes already encoded as whole events (`encodeEvent`, `encodeEventBytes`):
   * for fan-out, encode once and hand the same bytes to every subscriber. The bytes must not be
   * modified afterwards. Same promise as {@link EventStream.send}.
   */
  sendEncoded(encoded: string | Uint8Array): Promise<boolean>;
  /** Queues a comment line (ignored by clients). Same promise as {@link EventStream.send}. */
  comment(text?: string): Promise<boolean>;
  /** Ends the stream after what is queued. Idempotent. */
  close(): void;
}

/** Internal handle: the stream plus a way to end it with a specific reason. */
export interface EventStreamHandle {
  stream: EventStream;
  end(type: StreamClosedReason, cause?: unknown): void;
}

/**
 * The default heartbeat interval: 10 s, or 5 s under Bun. Bun.serve closes a connection that
 * has not been written to for `idleTimeout` seconds (10 by default), streaming responses
 * included; a heartbeat every 10 s races that timer and loses (measured with Bun 1.4: the stream
 * was cut at 20 s). Internal: the hub uses it too.
 */
export function defaultHeartbeat(): number {
  return 'Bun' in globalThis ? 5_000 : 10_000;
}
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const DEFAULT_MAX_QUEUED = 1024 * 1024;
// A batch this large is handed to the stream at once: big enough that a tight producer loop
// costs few socket writes, small enough to keep the first bytes of a burst moving.
const BATCH_LIMIT = 16 * 1024;
// Microtasks without a new send before the batch is flushed. An async generator consumed with
// `for await` takes about five hops between items; waiting a few more keeps its events together.
const IDLE_TICKS = 8;

const encoder = new TextEncoder();
const RESOLVED_TRUE = Promise.resolve(true);
const RESOLVED = Promise.resolve();
/**
 * Runs `fn` in a microtask. Not `queueMicrotask`: Node wraps each of its callbacks in an
 * AsyncResource and a bound function (two allocations and the async-hooks bookkeeping), which
 * the batch's idle ticks below pay on every hop; a resolved promise's `then` is a bare
 * microtask. An exception in `fn` would reject a promise nobody holds: `tick` never throws.
 */
const microtask = (fn: () => void): void => {
  void RESOLVED.then(fn);
};
const RESOLVED_FALSE = Promise.resolve(false);

const CLOSE_MESSAGES: Record<StreamClosedReason, string> = {
  closed: 'the server closed the event stream',
  'client-gone': 'the client went away',
  overflow: 'the client did not read fast enough: the queue bound was exceeded',
  'source-error': 'the event source failed',
};

/**
 * The reason a stream's `signal` aborts with, without a stack: its frames would be this module's
 * own (`type` says how the stream ended), and capturing them costs more than the rest of ending
 * a stream (V8 also walks the chain of awaits the end was called from).
 */
function closeReason(type: StreamClosedReason, cause: unknown): StreamClosedError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new StreamClosedError(type, CLOSE_MESSAGES[type], cause === undefined ? undefined : { cause });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

const positive = (name: string, value: number): number => checkNumber(name, value, { fraction: true });

/** @internal `parts` as one array of `total` bytes (the part itself when there is one). Also the hub's. */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** What a {@link Writer} does its work with: the state of one stream, in openEventStream. */
interface WriterCore {
  closed(): boolean;
  queued(): number;
  pushText(encoded: string): Promise<boolean>;
  pushBytes(bytes: Uint8Array): Promise<boolean>;
  close(): void;
}

/**
 * The {@link EventStream} handed out. A class, so its getters are the prototype's and each
 * writer has V8's fast properties: an object literal with getters is kept as a dictionary, which
 * made every `send`, `sendEncoded` and `closed` of a stream (a few per event) a hash lookup
 * through the inline cache's slow path. The methods stay the writer's own functions, so one
 * taken off it (`const { send } = stream`) still works.
 */
class Writer implements EventStream {
  readonly response: Response;
  readonly signal: AbortSignal;
  readonly #core: WriterCore;

  constructor(response: Response, signal: AbortSignal, core: WriterCore) {
    this.response = response;
    this.signal = signal;
    this.#core = core;
  }

  get closed(): boolean {
    return this.#core.closed();
  }

  get bufferedAmount(): number {
    return this.#core.closed() ? 0 : this.#core.queued();
  }

  readonly send = (event: OutgoingEvent | string): Promise<boolean> => {
    if (this.#core.closed()) return RESOLVED_FALSE;
    if (typeof event === 'string') return this.#core.pushText(encodeEvent({ data: event }));
    if (typeof event !== 'object' || event === null) {
      throw new TypeError(
        `send expects an event object or a string, got ${event === null ? 'null' : typeof event}`,
      );
    }
    return this.#core.pushText(encodeEvent(event));
  };

  readonly sendEncoded = (encoded: string | Uint8Array): Promise<boolean> => {
    if (this.#core.closed()) return RESOLVED_FALSE;
    if (typeof encoded === 'string') return this.#core.pushText(encoded);
    if (!(encoded instanceof Uint8Array)) {
      throw new TypeError('sendEncoded expects a string or a Uint8Array');
    }
    return this.#core.pushBytes(encoded);
  };

  readonly comment = (comment = ''): Promise<boolean> => {
    if (this.#core.closed()) return RESOLVED_FALSE;
    return this.#core.pushText(encodeEvent({ comment }));
  };

  readonly close = (): void => {
    this.#core.close();
  };
}

/** @internal Used by `streamEvents` (and the hub) to end a stream with a specific reason. */
export function openEventStream(options: EventStreamOptions = {}): EventStreamHandle {
  const heartbeat =
    options.heartbeat === false ? false : positive('heartbeat', options.heartbeat ?? defaultHeartbeat());
  const highWaterMark = positive('highWaterMark', options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK);
  const maxQueued = positive(
    'maxQueuedBytes',
    options.maxQueuedBytes ?? Math.max(DEFAULT_MAX_QUEUED, highWaterMark),
  );
  if (maxQueued < highWaterMark) throw new RangeError('maxQueuedBytes must be at least highWaterMark');
  const policy: OverflowPolicy = options.overflow ?? 'close';
  if (policy !== 'close' && policy !== 'drop')
    throw new RangeError(`unknown overflow policy ${String(policy)}`);
  // Validated (and encoded) before anything starts, so a bad retry throws here, not later.
  const openText = options.retry === undefined ? EMPTY_COMMENT : encodeEvent({ retry: options.retry });
  const batchLimit = Math.min(BATCH_LIMIT, highWaterMark);

  const abort = new AbortController();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  // The consumer cancelled the body: the stream is already closed on its side.
  let cancelled = false;
  // The batch: `parts` (bytes, in order) followed by `text`. `batchSize` counts both.
  let text = '';
  let parts: Uint8Array[] | null = null;
  let partsBytes = 0;
  let batchSize = 0;
  let scheduled = false;
  let active = false;
  let idle = 0;
  let room: { promise: Promise<boolean>; resolve: (ok: boolean) => void } | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;

  const queued = (): number => highWaterMark - (controller.desiredSize ?? highWaterMark) + batchSize;

  const flush = (): void => {
    if (batchSize === 0) return;
    let chunk: Uint8Array;
    if (parts === null) {
      chunk = encoder.encode(text);
    } else {
      if (text !== '') {
        const bytes = encoder.encode(text);
        parts.push(bytes);
        partsBytes += bytes.byteLength;
      }
      chunk = concatBytes(parts, partsBytes);
    }
    text = '';
    parts = null;
    partsBytes = 0;
    batchSize = 0;
    controller.enqueue(chunk);
  };

  const tick = (): void => {
    if (closed || batchSize === 0) {
      scheduled = false;
      return;
    }
    if (active) {
      active = false;
      idle = 0;
      microtask(tick);
    } else if (++idle < IDLE_TICKS) {
      microtask(tick);
    } else {
      scheduled = false;
      flush();
    }
  };

  const waitForRoom = (): Promise<boolean> => {
    if (room === null) {
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => {
        resolve = r;
      });
      room = { promise, resolve };
    }
    return room.promise;
  };

  const end = (type: StreamClosedReason, cause?: unknown): void => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearInterval(timer);
    options.signal?.removeEventListener('abort', onExternalAbort);
    const reason = closeReason(type, cause);
    if (type === 'closed' || type === 'source-error') {
      // Deliver what is queued, then end the body normally.
      flush();
      controller.close();
    } else if (type === 'overflow') {
      // Drop the queue at once (that is the point of the bound) and make the runtime end the
      // response abruptly, so the client knows the stream is incomplete and reconnects.
      controller.error(reason);
    } else if (!cancelled) {
      // The client left (options.signal): nobody will read what is queued. Ending the body
      // normally rather than with an error keeps runtimes (Hono's node server, Next.js) from
      // logging a failure for an ordinary disconnect; they drop the stream right after.
      controller.close();
    }
    text = '';
    parts = null;
    batchSize = 0;
    if (room !== null) {
      room.resolve(false);
      room = null;
    }
    abort.abort(reason);
  };

  function onExternalAbort(this: AbortSignal): void {
    end('client-gone', this.reason);
  }

  const enqueue = (): Promise<boolean> => {
    active = true;
    if (batchSize >= batchLimit) {
      flush();
    } else if (!scheduled) {
      scheduled = true;
      idle = 0;
      microtask(tick);
    }
    return queued() < highWaterMark ? RESOLVED_TRUE : waitForRoom();
  };

  const overflowed = (size: number): boolean => {
    if (queued() + size <= maxQueued) return false;
    if (policy === 'close') end('overflow');
    return true;
  };

  const pushText = (encoded: string): Promise<boolean> => {
    if (overflowed(encoded.length)) return RESOLVED_FALSE;
    text += encoded;
    batchSize += encoded.length;
    return enqueue();
  };

  const pushBytes = (bytes: Uint8Array): Promise<boolean> => {
    if (overflowed(bytes.byteLength)) return RESOLVED_FALSE;
    if (parts === null) parts = [];
    if (text !== '') {
      const head = encoder.encode(text);
      parts.push(head);
      partsBytes += head.byteLength;
      text = '';
    }
    parts.push(bytes);
    partsBytes += bytes.byteLength;
    batchSize = partsBytes;
    return enqueue();
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        // The first bytes go out at once: the client's `open` fires (and proxies commit to
        // streaming) before the first event exists.
        c.enqueue(encoder.encode(openText));
      },
      pull() {
        if (room !== null && queued() < highWaterMark) {
          const waiting = room;
          room = null;
          waiting.resolve(true);
        }
      },
      cancel(reason) {
        cancelled = true;
        end('client-gone', reason);
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  );

  const response = sseResponse(body, options);

  if (heartbeat !== false) {
    timer = setInterval(() => {
      if (!closed) pushText(EMPTY_COMMENT);
    }, heartbeat);
    // A stream alone must not keep a process alive (Node, Bun, Deno return an object with unref).
    (timer as { unref?: () => void }).unref?.();
  }

  if (options.signal !== undefined) {
    if (options.signal.aborted) end('client-gone', options.signal.reason);
    else options.signal.addEventListener('abort', onExternalAbort, { once: true });
  }

  const stream = new Writer(response, abort.signal, {
    closed: () => closed,
    queued,
    pushText,
    pushBytes,
    close: () => end('closed'),
  });
  return { stream, end };
}

/**
 * Opens an event stream: returns at once with a `Response` to hand to the runtime, and a writer
 * to keep sending events into it.
 *
 * - Headers: {@link SSE_HEADERS}, your `headers` merged over them.
 * - The first bytes (a comment, or the `retry` hint) are queued immediately.
 * - A heartbeat comment every 10 s by default, 5 s under Bun (`heartbeat: false` turns it off).
 * - Backpressure: `await send(...)` waits while `highWaterMark` bytes are queued; at most
 *   `maxQueuedBytes` are ever held, past which `overflow` applies (default: close).
 * - Disconnect: `signal` aborts when the client goes away; later sends resolve `false`.
 *
 * @example
 * ```ts
 * import { createEventStream } from 'ssekit/server';
 *
 * export function GET(request: Request) {
 *   const stream = createEventStream({ signal: request.signal });
 *   (async () => {
 *     for (let i = 0; !stream.closed; i++) {
 *       await stream.send({ event: 'tick', data: String(i), id: String(i) });
 *       await new Promise((r) => setTimeout(r, 1000));
 *     }
 *   })();
 *   return stream.response;
 * }
 * ```
 */
export function createEventStream(options?: EventStreamOptions): EventStream {
  return openEventStream(options).stream;
}
