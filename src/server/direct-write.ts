/**
 * The direct-write contract between a response body and the adapter that sends it: one module,
 * imported by the sources that offer direct writes (the hub's subscriber outlet) and by the
 * adapters that take them (`ssekit/node`), so the two sides cannot drift apart.
 *
 * A body offers direct writes by carrying a {@link DirectWriteHook} under {@link DIRECT_WRITE}.
 * An adapter that knows its transport attaches a {@link DirectTarget}; the source then writes its
 * bytes straight into the transport instead of through the stream. An adapter that cannot (or a
 * body that declines, see {@link DirectWriteHook}) reads the body as an ordinary stream. On that
 * path a source may cut a consumer that stopped reading by erroring its stream, even after it
 * has queued its last bytes: an adapter reading it must watch for the error (`reader.closed`)
 * while it waits on its transport, not only at its next read.
 */

/**
 * The property, on a response body stream, under which a source offers direct writes
 * (a registered symbol, so two copies of the package loaded side by side still agree).
 */
export const DIRECT_WRITE: unique symbol = Symbol.for('ssekit.directWrite') as never;

/** What an adapter hands a source that writes directly: the transport's side. */
export interface DirectTarget {
  /** Queues bytes for the peer. Never throws for a peer that went away (see `cancel`). */
  write(chunk: Uint8Array): void;
  /** Bytes accepted by `write` that the transport has not handed to the network yet. */
  readonly queuedBytes: number;
  /** Ends the response after what is queued. */
  end(): void;
  /**
   * Ends the response at once, dropping what is queued; the peer sees it incomplete. Also after
   * `end()`, as long as the transport still holds bytes the peer has not taken (a no-op once the
   * response has finished).
   */
  abort(): void;
  /**
   * The transport's framing of a chunk (HTTP/1.1 chunked encoding). Pure: targets with the
   * same function get the framed bytes of a shared chunk computed once.
   */
  readonly frame?: ((chunk: Uint8Array) => Uint8Array) | undefined;
}

/** What the source returns to the adapter that attached. */
export interface DirectAttachment {
  /** The peer went away: the source stops writing and releases the subscriber. */
  cancel(reason?: unknown): void;
}

/**
 * Attaches a target to a body that offers direct writes. Returns `undefined` when the body does
 * not offer them or can no longer switch (it was already read): read it as a stream then.
 */
export type DirectWriteHook = (target: DirectTarget) => DirectAttachment | undefined;

/** The direct-write hook of a body stream, if it has one. */
export function getDirectWriteHook(body: unknown): DirectWriteHook | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const hook = (body as Record<symbol, unknown>)[DIRECT_WRITE];
  return typeof hook === 'function' ? (hook as DirectWriteHook) : undefined;
}
