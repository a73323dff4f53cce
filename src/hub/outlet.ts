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
          if (this.#ended) return;
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
    if (this.#pendingBytes > 0) this.#controller?.enqueue(this.#takePending());
    this.#controller?.close();
    const pull = this.#pull;
    this.#pull = null;
    pull?.();
  }

  /** Ends the stream at once; the peer sees an incomplete response. */
  abort(reason: unknown): void {
    if (this.#target !== null) {
      // The target knows whether its response has finished (then this is a no-op).
      this.#ended = true;
      this.closed = true;
      this.#target.abort();
      return;
    }
    if (!this.#ended) {
      this.#ended = true;
      this.closed = true;
      this.#pending = null;
      this.#pendingBytes = 0;
      this.#controller?.error(reason);
    }
  }

  #attach(target: DirectTarget): DirectAttachment | undefined {
    if (this.#read || this.#target !== null || this.stream === null || this.stream.locked) return undefined;
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
