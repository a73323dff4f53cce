/**
 * A subscriber's byte stream, lean enough for tens of thousands per process.
 *
 * It is a `ReadableStream<Uint8Array>` for any runtime, and it also offers the *direct write*
 * hook: an adapter that knows its transport (`ssekit/node`) can take the bytes straight into the
 * socket instead of reading them through the stream. Fan-out then costs one socket write per
 * subscriber per flush, with no promise or queue per chunk, and the transport framing (HTTP/1.1
 * chunk headers) is computed once per flush for all subscribers, since they all get the same
 * bytes.
 */
import {
  DIRECT_WRITE,
  type DirectAttachment,
  type DirectTarget,
  type DirectWriteHook,
} from '../server/direct-write.js';
import { isStreamClosedError, StreamClosedError } from '../server/errors.js';
import { concatBytes } from '../server/event-stream.js';

/** One shared chunk and its framed form, reused across the targets of one flush. */
export interface FrameCache {
  fn: ((chunk: Uint8Array) => Uint8Array) | undefined;
  out: Uint8Array | undefined;
}

/**
 * The hub's end of one subscriber. Writes never block: bytes queue (in the stream, or in the
 * transport once attached) and the hub watches {@link Outlet.queuedBytes} against its bound.
 */
export class Outlet implements DirectAttachment {
  /**
   * The body for the `Response`. Dropped once a transport attaches directly: an idle subscriber
   * then holds no stream machinery at all.
   */
  stream: ReadableStream<Uint8Array> | null;
  /** True once ended, aborted or cancelled: writes are dropped. */
  closed = false;
  #target: DirectTarget | null = null;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  // Allocated on first use and dropped when drained: most outlets are attached before any write.
  #pending: Uint8Array[] | null = null;
  #pendingBytes = 0;
  #pull: (() => void) | null = null;
  #read = false;
  #ended = false;
  // The stream itself is over (closed after its last read, errored, or cancelled): nothing more
  // can reach a reader, and a cut has nothing left to cut.
  #streamOver = false;

  /**
   * Subclassed by the hub's subscriber record (one object per subscriber, not two), which
   * overrides {@link Outlet.onCancel}.
   */
  constructor() {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // High-water mark 0: pull runs only when a reader waits, so bytes stay in #pending (one
        // array) until then and leave as one chunk: coalescing comes for free.
        pull: () => {
          this.#read = true;
          if (this.#pendingBytes > 0) {
            this.#controller?.enqueue(this.#takePending());
            return;
          }
          // Ended, and the reader has taken the last bytes and asks for more: only now does the
          // stream close (see `end`).
          if (this.#ended) {
            this.#closeStream();
            return;
          }
          return new Promise<void>((resolve) => {
            this.#pull = resolve;
          });
        },
        cancel: (reason) => this.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    const hook: DirectWriteHook = (target) => this.#attach(target);
    Object.defineProperty(this.stream, DIRECT_WRITE, { value: hook });
  }

  /** Bytes written but not yet handed to the network. */
  get queuedBytes(): number {
    return this.#target === null ? this.#pendingBytes : this.#target.queuedBytes;
  }

  /** Queues a chunk. `cache` shares the framed form of a chunk written to many outlets. */
  write(chunk: Uint8Array, cache?: FrameCache): void {
    const target = this.#target;
    if (target !== null) {
      if (this.closed) return;
      const frame = target.frame;
      if (frame === undefined) {
        target.write(chunk);
      } else if (cache === undefined) {
        target.write(frame(chunk));
      } else if (cache.fn === frame) {
        target.write(cache.out as Uint8Array);
      } else {
        const out = frame(chunk);
        cache.fn = frame;
        cache.out = out;
        target.write(out);
      }
      return;
    }
    if (this.#ended) return;
    const pull = this.#pull;
    if (pull !== null) {
      this.#pull = null;
      this.#controller?.enqueue(chunk);
      pull();
      return;
    }
    (this.#pending ??= []).push(chunk);
    this.#pendingBytes += chunk.byteLength;
  }

  /**
   * Ends the stream after what is queued, with `final` as the last bytes. With `dropQueued`,
   * bytes not yet handed to the transport are dropped first (a slow consumer resumes from
   * history; there is no point delivering a backlog it could not take).
   */
  end(final?: Uint8Array, dropQueued = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.closed = true;
    if (dropQueued) {
      this.#pending = null;
      this.#pendingBytes = 0;
    }
    if (final !== undefined) {
      (this.#pending ??= []).push(final);
      this.#pendingBytes += final.byteLength;
    }
    const target = this.#target;
    if (target !== null) {
      if (this.#pendingBytes > 0) target.write(this.#frameOf(target, this.#takePending()));
      target.end();
      return;
    }
    // The stream closes only when its reader has taken the last bytes and asks for more, not
    // here: until then `abort` can still error it, so a reader that stopped (or an adapter stuck
    // waiting for its socket to drain) learns it was cut instead of holding the response open.
    const pull = this.#pull;
    if (pull === null) return; // the next pull hands over what is pending, the one after closes
    this.#pull = null;
    if (this.#pendingBytes > 0) this.#controller?.enqueue(this.#takePending());
    else this.#closeStream();
    pull();
  }

  /**
   * Ends the stream at once, also after `end()` while the consumer has not taken everything:
   * the peer sees an incomplete response. A stream reader gets a `StreamClosedError` of type
   * `'overflow'` (the server layer's name for a consumer cut by a byte bound; adapters end the
   * response without reporting it as a failure) with `reason` as its cause. Once the stream has
   * closed after its last read, or the consumer cancelled it, there is nothing left to cut.
   */
  abort(reason: unknown): void {
    this.#ended = true;
    this.closed = true;
    if (this.#target !== null) {
      // The target knows whether its response has finished (then this is a no-op).
      this.#target.abort();
      return;
    }
    this.#pending = null;
    this.#pendingBytes = 0;
    if (this.#streamOver) return;
    this.#streamOver = true;
    const error = isStreamClosedError(reason)
      ? reason
      : new StreamClosedError('overflow', 'the consumer fell behind and was cut off', { cause: reason });
    this.#controller?.error(error);
    this.#controller = null;
    const pull = this.#pull;
    this.#pull = null;
    pull?.();
  }

  #closeStream(): void {
    this.#streamOver = true;
    this.#controller?.close();
    this.#controller = null;
  }

  #attach(target: DirectTarget): DirectAttachment | undefined {
    // Not once read (the bytes already went that way), nor once the stream is over: an aborted
    // body is then read as a stream, and its error ends the response abruptly.
    if (
      this.#read ||
      this.#streamOver ||
      this.#target !== null ||
      this.stream === null ||
      this.stream.locked
    ) {
      return undefined;
    }
    this.#target = target;
    this.stream = null;
    this.#controller = null;
    if (this.#pendingBytes > 0) target.write(this.#frameOf(target, this.#takePending()));
    if (this.#ended) target.end();
    return this;
  }

  /** The consumer went away (stream cancelled, or the transport's peer disconnected). */
  cancel(reason?: unknown): void {
    const wasOpen = !this.closed;
    this.closed = true;
    this.#ended = true;
    this.#streamOver = true;
    this.#controller = null;
    this.#pull = null;
    this.#pending = null;
    this.#pendingBytes = 0;
    if (wasOpen) this.onCancel(reason);
  }

  /** Called once when the consumer goes away (not when the hub ends the stream). */
  protected onCancel(_reason: unknown): void {}

  #frameOf(target: DirectTarget, chunk: Uint8Array): Uint8Array {
    return target.frame === undefined ? chunk : target.frame(chunk);
  }

  #takePending(): Uint8Array {
    const chunk = concatBytes(this.#pending ?? [], this.#pendingBytes);
    this.#pending = null;
    this.#pendingBytes = 0;
    return chunk;
  }
}
