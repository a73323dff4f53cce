/**
 * An event as the receiving side sees it once a block has been dispatched
 * (WHATWG HTML §9.2.6, "dispatch the event").
 */
export interface ServerSentEvent {
  /** The event type: the last `event` field of the block, or `'message'` when it named none. */
  event: string;
  /** The `data` fields of the block joined with `\n`. */
  data: string;
  /**
   * The stream's last event ID at the time of dispatch. It persists across events until an `id`
   * field changes it, and is `''` when the stream has set none.
   */
  id: string;
}

/** An event to put on the wire. Every field is optional; see {@link encodeEvent}. */
export interface OutgoingEvent {
  /** Event type. Must not contain CR or LF. */
  event?: string;
  /** Payload. May contain any line ends: each line becomes its own `data:` field. */
  data?: string;
  /** Event id. Must not contain CR, LF or NUL. An empty string resets the receiver's last id. */
  id?: string;
  /** Reconnection time hint in milliseconds: a non-negative integer. */
  retry?: number;
  /** A comment; each of its lines is written as a comment line. */
  comment?: string;
}
