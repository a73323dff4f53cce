/**
 * The shape of a reply on the broker: its topics, the markers the replies layer writes among the
 * producer's events, and how a reply is named.
 *
 * Three topics per reply (`<prefix><id>` and two beside it):
 * - the log, `reply/<id>`: an `ssekit-open` marker, then every event of the producer, then one
 *   `end` event. Readers replay it and follow it; it is all a client ever sees (minus the marker).
 * - the control topic, `reply/<id>/control`: the open marker again, stop requests, notices that a
 *   reader somewhere still reads (idle stop), and the `end` event again (published to both topics
 *   at once: one id). The instance running the producer follows it; any instance reads its short
 *   history to learn whether a reply exists and whether it has ended.
 * - the alive topic, `reply/<id>/alive`: the producer's heartbeats while its log is quiet. Readers
 *   follow it (and the log): hearing nothing from either for `producerLostAfter` means the
 *   producer is gone.
 *
 * Every instance sharing the broker can thus stop a reply, or end it when its producer is lost,
 * by publishing to these topics: no instance needs to know which one runs the producer.
 */

/** Event type of the last event of every reply. Producers may not send it. */
export const END_EVENT = 'end';
/** First event of the log and of the control topic; never sent to clients. */
export const OPEN_MARK = 'ssekit-open';
/** Control topic: stop the producer (any instance may publish it). */
export const STOP_MARK = 'ssekit-stop';
/** Control topic: an instance still has readers of this reply (for the idle stop). */
export const READING_MARK = 'ssekit-reading';
/** Alive topic: the producer's heartbeat. */
export const ALIVE_MARK = 'ssekit-alive';

/**
 * Why a reply ended: the `reason` of its `end` event's JSON data.
 * - `done`: the producer finished.
 * - `failed`: the producer threw (the error goes to `onError`, never to clients).
 * - `stopped`: `DELETE <reply url>` or `replies.stop(id)`.
 * - `producer-lost`: the instance running the producer stopped answering (crashed, killed, cut
 *   off from the broker) for `producerLostAfter`; a reader's instance ended the reply.
 * - `too-large`: the log reached `maxEventsPerReply` or `maxBytesPerReply`.
 * - `idle`: nobody read the reply for `idleStopAfter`.
 * - `shutdown`: the instance running the producer closed before the producer finished.
 * - `expired`: sent by a reader, not stored: the log no longer holds everything after the
 *   client's last id (trimmed by the broker's own bounds); the rest cannot be replayed.
 */
export type EndReason =
  | 'done'
  | 'failed'
  | 'stopped'
  | 'producer-lost'
  | 'too-large'
  | 'idle'
  | 'shutdown'
  | 'expired';

const REASONS: ReadonlySet<string> = new Set<EndReason>([
  'done',
  'failed',
  'stopped',
  'producer-lost',
  'too-large',
  'idle',
  'shutdown',
  'expired',
]);

/** Data of an `end` event. */
export function endData(reason: EndReason): string {
  return JSON.stringify({ reason });
}

/** The reason of an `end` event's data (`failed` for data this layer did not write). */
export function endReasonOf(data: string): EndReason {
  try {
    const reason = (JSON.parse(data) as { reason?: unknown }).reason;
    if (typeof reason === 'string' && REASONS.has(reason)) return reason as EndReason;
  } catch {
    // Not ours: a broker shared with something that wrote here.
  }
  return 'failed';
}

/** An id below every id a stream-id broker assigns: where a replay from the start begins. */
export const LOG_START = '0-0';

/** The topics of one reply. */
export interface ReplyTopics {
  readonly log: string;
  readonly control: string;
  readonly alive: string;
}

export function topicsOf(prefix: string, id: string): ReplyTopics {
  const log = `${prefix}${id}`;
  return { log, control: `${log}/control`, alive: `${log}/alive` };
}

/** 128 random bits, base64url: 22 characters. */
export const REPLY_ID = /^[A-Za-z0-9_-]{22}$/;

// Random bytes drawn 4 KiB at a time: `crypto.getRandomValues` costs microseconds a call in
// Node (WebIDL conversions), which a reply would pay for 16 bytes.
const POOL = new Uint8Array(4096);
let pooled = 0;

/** A new reply id: 128 bits from `crypto.getRandomValues`, base64url without padding. */
export function newReplyId(): string {
  if (pooled < 16) {
    crypto.getRandomValues(POOL);
    pooled = POOL.length;
  }
  pooled -= 16;
  let binary = '';
  for (let i = pooled; i < pooled + 16; i++) binary += String.fromCharCode(POOL[i] as number);
  // Each id takes its own 16 bytes, never handed out again.
  POOL.fill(0, pooled, pooled + 16);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The time (ms since the epoch) in a stream id (`<ms>-<seq>`, the ids of the memory, cluster
 * and Redis brokers), or `undefined` for an id of another shape.
 */
export function timeOfId(id: string): number | undefined {
  const dash = id.indexOf('-');
  if (dash <= 0) return undefined;
  const ms = Number(id.slice(0, dash));
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * UTF-8 length of a string, without encoding it: the unit of the log's byte bounds. A lone
 * surrogate counts 3 (it is written as U+FFFD).
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A pair: 2 code units, 4 bytes.
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
