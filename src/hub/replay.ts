/**
 * Replay: what a resuming subscriber missed (WHATWG HTML §9.2.4: a reconnecting EventSource
 * sends the last id it saw as `Last-Event-ID`), read from the broker's history in pages, and the
 * seam between that replay and the live events that arrive while it is read.
 *
 * The seam, in order:
 * 1. the feed follows every topic of the subscriber before history is read: events after that
 *    point are sure to arrive live, events before it are in history;
 * 2. live events that arrive while history is read are held (bounded by `maxQueuedBytes`);
 * 3. the replay is written, then the held events it did not already carry;
 * 4. the subscriber catches up (the feed may lag behind history, see `Subscriber.floor`) and
 *    then joins its group.
 *
 * Progress is guaranteed: a client far behind gets what fits in `maxQueuedBytes` (at least one
 * event), then a retry hint, and resumes from there on its next connection.
 */
import { EMPTY_COMMENT, encodeEvent } from '../protocol/encode.js';
import { concatBytes } from '../server/event-stream.js';
import type { Broker } from './broker.js';
import type { Fanout, HubCounters, Subscriber } from './fanout.js';

/** Response header telling how a `Last-Event-ID` was honoured: `replay` or `reset`. */
export const RESUME_HEADER = 'ssekit-resume';
/** Event type sent first when the Last-Event-ID is older than history: refetch your state. */
export const RESET_EVENT = 'reset';

/** Why a subscriber got a `reset` (the `reason` of its JSON data). */
export type ResetReason = 'history-truncated' | 'unknown-id' | 'invalid-id';

const encoder = new TextEncoder();
/** The comment that opens every stream: the client's `open` fires before the first event. */
export const OPEN: Uint8Array = encoder.encode(EMPTY_COMMENT);

export interface ReplayOptions {
  readonly broker: Broker;
  readonly fanout: Fanout;
  readonly counters: HubCounters;
  /** The most bytes one connection's replay (and held events) may take. */
  readonly maxQueuedBytes: number;
  /** Events per history page. */
  readonly pageSize: number;
  /** The retry hint that ends a partial replay. */
  readonly retryBytes: () => Uint8Array;
}

interface Replay {
  chunks: Uint8Array[];
  bytes: number;
  /** Events among the chunks (counted as delivered once they are written). */
  events: number;
  /** The newest id the client has after this replay; `null`: history was not read (bad id). */
  lastId: string | null;
  reset: boolean;
  /** Cut short (budget, or history trimmed mid-read): end after it, the client resumes. */
  partial: boolean;
}

/**
 * Longest resume id the hub looks up (UTF-16 code units): the same bound as `readLastEventId`'s
 * default, for ids given to `subscribe({ lastEventId })` directly. Longer ones are invalid.
 */
export const MAX_ID_LENGTH = 256;

/** How a subscription started: live only, a replay, or a reset. */
export type Opening = 'live' | 'replay' | 'reset';

export function createReplay(options: ReplayOptions) {
  const { broker, fanout, counters, maxQueuedBytes, pageSize, retryBytes } = options;

  /** The reset event: why, and the id it answers (only a valid one: ids are bounded in size). */
  const resetBytes = (reason: ResetReason, head: string | undefined, lastEventId?: string): Uint8Array => {
    counters.resets++;
    return encoder.encode(
      encodeEvent({ id: head, event: RESET_EVENT, data: JSON.stringify({ reason, lastEventId }) }),
    );
  };

  const read = async (sub: Subscriber, lastEventId: string): Promise<Replay> => {
    const replay: Replay = {
      chunks: [],
      bytes: 0,
      events: 0,
      lastId: lastEventId,
      reset: false,
      partial: false,
    };
    if (lastEventId.length > MAX_ID_LENGTH || !broker.isValidId(lastEventId)) {
      // Not an id this broker ever assigned: the client's state is of unknown age. No history
      // read; the reset carries no id, so a client that reconnects before any live event is
      // reset again rather than resumed from a guess.
      const reset = resetBytes('invalid-id', undefined);
      replay.chunks.push(reset);
      replay.bytes += reset.byteLength;
      replay.lastId = null;
      replay.reset = true;
      return replay;
    }
    let after = lastEventId;
    let newest = lastEventId;
    for (let page = 0; ; page++) {
      const result = await broker.history(sub.topics, after, { limit: pageSize });
      if (page === 0 && (result.truncated || broker.compareIds(lastEventId, result.head) > 0)) {
        // Older than history, or newer than anything assigned (a clock that moved back across
        // a restart, or a forged id): either way the client's state cannot be caught up by a
        // replay. It refetches its state and resumes after the head.
        const reason = result.truncated ? 'history-truncated' : 'unknown-id';
        const reset = resetBytes(reason, result.head, lastEventId);
        replay.chunks.push(reset);
        replay.bytes += reset.byteLength;
        replay.lastId = result.head;
        replay.reset = true;
        return replay;
      }
      if (result.truncated) {
        // History was trimmed under our feet: stop here, the client resumes (and resets) later.
        replay.partial = true;
        break;
      }
      for (const event of result.events) {
        const bytes = fanout.bytesOf(event);
        // At least one event per connection, whatever its size: a client must always progress.
        if (replay.bytes + bytes.byteLength > maxQueuedBytes && newest !== lastEventId) {
          replay.partial = true;
          break;
        }
        replay.chunks.push(bytes);
        replay.bytes += bytes.byteLength;
        newest = event.id;
        replay.events++;
      }
      replay.lastId = newest;
      if (replay.partial || !result.more || result.events.length === 0) break;
      after = newest;
    }
    counters.replays++;
    return replay;
  };

  /**
   * Starts a subscriber's stream: waits until the feed follows its topics, replays from
   * `lastEventId` when given, writes the opening bytes and hands it to the fan-out (or ends it
   * after a partial replay). Throws when the broker fails; the caller releases the subscriber.
   */
  const open = async (sub: Subscriber, lastEventId: string | undefined): Promise<Opening> => {
    // The feed must follow every topic before history is read: that is the seam closed.
    await Promise.all(sub.acquired.map((t) => t.ready));
    const first: Uint8Array[] = [OPEN];
    let firstBytes = OPEN.byteLength;
    let firstEvents = 0;
    if (lastEventId === undefined) {
      if (sub.released) return 'live';
      fanout.join(sub, null);
      sub.outlet.write(OPEN);
      counters.bytesWritten += firstBytes;
      return 'live';
    }
    const replay = await read(sub, lastEventId);
    for (const chunk of replay.chunks) first.push(chunk);
    firstBytes += replay.bytes;
    firstEvents += replay.events;
    let endAfter = replay.partial;
    let last = replay.lastId;
    // Live events held during the replay, minus those the replay already had. Not after a
    // partial replay: they would follow it with a gap (the client resumes from its end).
    if (!endAfter && sub.held !== null) {
      for (const event of sub.held) {
        if (last !== null && broker.compareIds(event.id, last) <= 0) continue;
        const bytes = fanout.bytesOf(event);
        first.push(bytes);
        firstBytes += bytes.byteLength;
        firstEvents++;
        last = event.id;
      }
    }
    // Live events overflowed the hold while history was read: what was held went out, the rest
    // is in history. End here; the client resumes from `last`.
    if (sub.heldOverflow) endAfter = true;
    sub.held = null;
    // Ended meanwhile (the client left, a feed failure): nothing written, nothing delivered.
    if (sub.released) return replay.reset ? 'reset' : 'replay';
    counters.bytesWritten += firstBytes;
    counters.eventsDelivered += firstEvents;
    sub.outlet.write(concatBytes(first, firstBytes));
    if (endAfter) {
      fanout.unhold(sub);
      fanout.end(sub, retryBytes());
    } else if (replay.lastId === null) {
      // No history was read, so no lagging feed can repeat it: straight into the group.
      fanout.unhold(sub);
      fanout.join(sub, last);
    } else if (last !== null) {
      // Catching up (see `Subscriber.floor`): it stays in `holding` until the feed passes `last`.
      fanout.catchUp(sub, last);
    }
    return replay.reset ? 'reset' : 'replay';
  };

  return { open };
}
