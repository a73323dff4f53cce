/**
 * The reading side of a reply: one response that replays the log from a point (the start, or
 * the client's Last-Event-ID, WHATWG HTML §9.2.4) and then follows it live, ending after the
 * `end` event.
 *
 * The seam between replay and live events is closed as the hub closes it (hub/replay.ts):
 * 1. the feed follows the log before its history is read (a `ReplyWatch` per reply and process);
 * 2. live events that arrive while history is read are held, bounded in bytes; past the bound
 *    they are dropped and history is read again from where the replay got (the log has them);
 * 3. every event is written once: one with an id at or below the newest written is dropped, which
 *    also covers a feed that lags behind history (Redis reads them on different connections).
 */
import type { Broker, BrokerEvent, HistoryPage } from '../hub/broker.js';
import { encodeEvent, encodeIdData } from '../protocol/encode.js';
import type { EventStreamHandle } from '../server/event-stream.js';
import type { Following, RepliesFeed, Watcher } from './feed.js';
import {
  END_EVENT,
  type EndReason,
  endData,
  endReasonOf,
  OPEN_MARK,
  type ReplyTopics,
  utf8Length,
} from './log.js';
import type { LocalWatcher } from './run.js';

export interface ReaderOptions {
  readonly broker: Broker;
  readonly feed: RepliesFeed;
  /** Events per history page. */
  readonly pageSize: number;
  /** Bytes of live events held per reader while its replay is read. */
  readonly maxHeldBytes: number;
  /** The `retry` hint (ms) of a response ended before the reply (hand-off, shutdown, broker trouble). */
  readonly retry: number;
  readonly now: () => number;
  readonly onError: (error: unknown) => void;
  /** The wire text of an `end` event (its id and reason), when it is not the event as stored. */
  readonly endWire?: ((id: string | undefined, reason: EndReason) => string) | undefined;
}

/**
 * Past this many UTF-16 code units, an event goes to the stream as bytes, not text: the stream
 * counts queued text in code units until its batch is flushed (at 16 KiB), which undercounts
 * multi-byte text by up to 3x; for events this small the difference stays within one batch,
 * while a large one is held to `maxQueuedBytes` exactly.
 */
const TEXT_MAX = 4096;
const encoder = new TextEncoder();

/**
 * The wire text of a log event. Text, not bytes: a reply has one reader most of the time, and a
 * few small strings batched by the stream and encoded once per batch cost far less than a
 * `Uint8Array` per token (an allocation outside the heap, and a copy to batch them).
 */
function wireOf(event: BrokerEvent): string | Uint8Array {
  const text = wireText(event);
  return text.length > TEXT_MAX ? encoder.encode(text) : text;
}

/** The `text/event-stream` text of a log event: its id, type and data (not its topics). */
function wireText(event: BrokerEvent): string {
  return event.event === undefined
    ? encodeIdData(event.id, event.data)
    : encodeEvent({ id: event.id, event: event.event, data: event.data });
}

/** The UTF-8 length of a log event's wire text: what it takes in a stream's queue. */
function wireBytes(event: BrokerEvent): number {
  return utf8Length(wireText(event));
}

/**
 * The first page of a reply's log, read before its reader is attached (replies.ts asks for it
 * beside the reply's state, so a resume costs one round trip to the broker, not two), and the
 * live events the watch got while it was read: the reader takes them as it takes the events it
 * holds during a replay (step 2 above), so the seam stays closed. Bounded like that hold: past
 * `maxBytes`, or on a feed error, the page is not used and the reader replays as without it.
 */
export class FirstPage {
  page: HistoryPage | undefined;
  readonly live: BrokerEvent[] = [];
  #bytes = 0;
  #spilled = false;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The page, with every live event since it was asked for; `undefined` when it cannot be used. */
  get usable(): HistoryPage | undefined {
    return this.#spilled ? undefined : this.page;
  }

  onLive(event: BrokerEvent): void {
    if (this.#spilled) return;
    this.#bytes += wireBytes(event);
    if (this.#bytes > this.#maxBytes) this.spill();
    else this.live.push(event);
  }

  /** Events may be missing (too many to hold, or the feed failed): the page is not used. */
  spill(): void {
    this.#spilled = true;
    this.live.length = 0;
  }
}

/** What a process knows of one reply it reads: followed once, shared by its readers. */
export class ReplyWatch implements Watcher {
  readonly id: string;
  readonly topics: ReplyTopics;
  readonly readers = new Set<Reader>();
  /** First pages being read for readers not attached yet (see {@link FirstPage}). */
  readonly firstPages = new Set<FirstPage>();
  readonly following: Following;
  /** When the log or the alive topic last brought anything (the producer's sign of life). */
  lastSeen: number;
  /** The first `end` event seen, if any. */
  end: { readonly id: string; readonly reason: EndReason } | null = null;
  /** This process has published `producer-lost` for the reply (once is enough). */
  declared = false;
  /** When a reading notice was last published for the reply (idle stop across instances). */
  lastNotice = 0;
  /** Readers and pending opens holding this watch. */
  refs = 0;
  /** Fed by the run of a producer in this process, not by the broker's feed. */
  readonly local: boolean = false;
  stamp?: number;
  readonly #now: () => number;
  #opened: (() => void)[] = [];
  #sawOpen = false;

  /**
   * @param local the run of the reply, when its producer runs in this process (it runs here to
   *   its end, or this process ends with it): the log's events then come from it as they land,
   *   and its heartbeats tell nothing, so the broker's feed follows neither the log nor the alive
   *   topic (on Redis, no stream read and no notification per event for readers here). The
   *   run's end (`replies.ts`) lets go of this watch.
   */
  constructor(
    id: string,
    topics: ReplyTopics,
    feed: RepliesFeed,
    now: () => number,
    local?: { localWatch: LocalWatcher | null },
  ) {
    this.id = id;
    this.topics = topics;
    this.#now = now;
    this.lastSeen = now();
    if (local === undefined) {
      this.following = feed.follow([topics.log, topics.alive], this);
    } else {
      local.localWatch = this;
      this.local = true;
      this.following = {
        ready: Promise.resolve(),
        release: () => {
          if (local.localWatch === this) local.localWatch = null;
        },
      };
    }
  }

  /** Notes an `end` event (from history or live): the first one, in id order, counts. */
  noteEnd(event: BrokerEvent, compare: (a: string, b: string) => number): void {
    if (this.end === null || compare(event.id, this.end.id) < 0) {
      this.end = { id: event.id, reason: endReasonOf(event.data) };
    }
  }

  /**
   * Resolves `true` when the log's open marker arrives live, `false` after `ms`: a POST that
   * joins a reply by its Idempotency-Key can be faster than the POST that claimed the key.
   */
  whenOpened(ms: number): Promise<boolean> {
    // It may have come live after the state was read and before this was asked.
    if (this.#sawOpen) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#opened = this.#opened.filter((f) => f !== done);
        resolve(false);
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#opened.push(done);
    });
  }

  onEvent(event: BrokerEvent): void {
    this.lastSeen = this.#now();
    if (!event.topics.includes(this.topics.log)) return; // a heartbeat
    this.onLog(event);
  }

  /**
   * An event of the reply's log. The run of a local reply hands its events here directly: it
   * knows they are the log's, and the producer's sign of life is the run itself (`upkeep.ts`).
   */
  onLog(event: BrokerEvent): void {
    if (event.event === OPEN_MARK) this.#sawOpen = true;
    if (event.event === OPEN_MARK && this.#opened.length > 0) {
      const waiting = this.#opened;
      this.#opened = [];
      for (const done of waiting) done();
    }
    if (event.event === END_EVENT && this.end === null)
      this.end = { id: event.id, reason: endReasonOf(event.data) };
    for (const reader of this.readers) reader.onLive(event);
    if (this.firstPages.size > 0) for (const first of this.firstPages) first.onLive(event);
  }

  onFeedError(): void {
    for (const first of this.firstPages) first.spill();
    // Events may have been missed: each reader ends with a retry hint and resumes from the log.
    for (const reader of [...this.readers]) reader.cut();
  }
}

export class Reader {
  readonly #watch: ReplyWatch;
  readonly #handle: EventStreamHandle;
  readonly #options: ReaderOptions;
  readonly #onClose: (reader: Reader) => void;
  #mode: 'replay' | 'live' | 'done' = 'replay';
  #held: BrokerEvent[] = [];
  #heldBytes = 0;
  #heldOverflow = false;
  /** The newest id the client has (or the start of the log). */
  #cursor: string;
  /** The newest id written in this response, if any (said again when the response is cut). */
  #written: string | undefined;
  #timers: ReturnType<typeof setTimeout>[] = [];

  constructor(
    watch: ReplyWatch,
    handle: EventStreamHandle,
    cursor: string,
    options: ReaderOptions,
    onClose: (reader: Reader) => void,
  ) {
    this.#watch = watch;
    this.#handle = handle;
    this.#cursor = cursor;
    this.#options = options;
    this.#onClose = onClose;
    watch.readers.add(this);
    // The client left, or read too slowly (the stream's overflow policy cut it): let go. It may
    // have left already (the request's signal aborted while the reply was being looked up).
    if (handle.stream.signal.aborted) this.#detach();
    else handle.stream.signal.addEventListener('abort', () => this.#detach(), { once: true });
  }

  get done(): boolean {
    return this.#mode === 'done';
  }

  /**
   * Replays, then follows live. Call once the reader is attached to its followed watch.
   * `first`: the log's first page after the cursor, read before the reader was attached, with the
   * live events since (used unless it spilled).
   */
  start(first?: FirstPage): void {
    if (this.done) return;
    const page = first?.usable;
    if (first !== undefined && page !== undefined) for (const event of first.live) this.onLive(event);
    void this.#replay(page);
  }

  /** Follows live from the cursor, with nothing to replay (the log holds nothing after it). */
  follow(): void {
    if (!this.done) this.#mode = 'live';
  }

  /** Ends the response (with a retry hint and the last id written) after `ms`. */
  cutAfter(ms: number, onCut?: () => void): void {
    // Past this, setTimeout fires at once; so far off is never in practice.
    if (ms > 2_147_483_647) return;
    const timer = setTimeout(
      () => {
        if (this.done) return;
        onCut?.();
        this.cut();
      },
      Math.max(0, ms),
    );
    (timer as { unref?: () => void }).unref?.();
    this.#timers.push(timer);
  }

  onLive(event: BrokerEvent): void {
    if (this.#mode === 'live') {
      this.#deliver(event);
    } else if (this.#mode === 'replay' && !this.#heldOverflow) {
      this.#heldBytes += wireBytes(event);
      if (this.#heldBytes > this.#options.maxHeldBytes) {
        // History has them: the replay reads on from where it got instead.
        this.#heldOverflow = true;
        this.#held = [];
        this.#heldBytes = 0;
      } else {
        this.#held.push(event);
      }
    }
  }

  /**
   * Ends the response before the reply ends, cleanly: the `retry` hint and the newest id written
   * (an `id` field with no data sets the client's last event id and dispatches nothing, WHATWG
   * HTML §9.2.6), so the client reconnects at once and resumes from the log.
   */
  cut(): void {
    if (this.done) return;
    this.#handle.stream.sendEncoded(encodeEvent({ retry: this.#options.retry, id: this.#written }));
    this.#close();
  }

  async #replay(firstPage?: HistoryPage): Promise<void> {
    const { broker, pageSize } = this.#options;
    let given = firstPage;
    try {
      for (;;) {
        let after = this.#cursor;
        for (;;) {
          let page: HistoryPage;
          if (given === undefined)
            page = await broker.history([this.#watch.topics.log], after, { limit: pageSize });
          else {
            page = given;
            given = undefined;
          }
          if (this.done) return;
          // Truncated is expected from before the log's start (the open marker then comes
          // first); anywhere else the broker lost part of the log.
          if (page.truncated && page.events[0]?.event !== OPEN_MARK) {
            this.#expired();
            return;
          }
          for (const event of page.events) {
            const room = this.#deliver(event);
            if (this.done) return;
            // Backpressure: the next event waits until the client has read enough.
            if (room !== undefined && !(await room)) return;
            if (this.#mode !== 'replay') return;
          }
          const last = page.events[page.events.length - 1];
          if (!page.more || last === undefined) break;
          after = last.id;
        }
        if (!this.#heldOverflow) break;
        this.#heldOverflow = false;
      }
      this.#mode = 'live';
      const held = this.#held;
      this.#held = [];
      this.#heldBytes = 0;
      for (const event of held) {
        this.#deliver(event);
        if (this.done) return;
      }
    } catch (error) {
      // The broker failed mid-replay: the client resumes from what it got.
      this.#options.onError(error);
      this.cut();
    }
  }

  /** Writes an event unless the client has it; returns the stream's room promise when written. */
  #deliver(event: BrokerEvent): Promise<boolean> | undefined {
    if (this.#options.broker.compareIds(event.id, this.#cursor) <= 0) return undefined;
    this.#cursor = event.id;
    this.#written = event.id;
    if (event.event === OPEN_MARK) return undefined;
    const endWire = this.#options.endWire;
    const room = this.#handle.stream.sendEncoded(
      endWire !== undefined && event.event === END_EVENT
        ? endWire(event.id, endReasonOf(event.data))
        : wireOf(event),
    );
    if (event.event === END_EVENT) {
      this.#watch.noteEnd(event, this.#options.broker.compareIds);
      this.#close();
    }
    return room;
  }

  /** The log lost what follows the client's id: an `end` with reason `expired`, not stored. */
  #expired(): void {
    const endWire = this.#options.endWire;
    this.#handle.stream.sendEncoded(
      endWire !== undefined
        ? endWire(undefined, 'expired')
        : encodeEvent({ event: END_EVENT, data: endData('expired') }),
    );
    this.#close();
  }

  #close(): void {
    if (this.done) return;
    this.#handle.stream.close();
    this.#detach();
  }

  #detach(): void {
    if (this.done && !this.#watch.readers.has(this)) return;
    this.#mode = 'done';
    this.#held = [];
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    if (this.#watch.readers.delete(this)) this.#onClose(this);
  }
}
