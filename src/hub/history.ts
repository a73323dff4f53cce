/**
 * Bounded per-topic history and the Last-Event-ID lookup (WHATWG HTML §9.2.4: a reconnecting
 * EventSource sends the last id it saw in the `Last-Event-ID` header; this is what the hub looks
 * it up in).
 *
 * Each topic keeps its newest events, bounded by count, by age and by bytes. When an event falls
 * out, the topic remembers its id as the *floor*: a client that resumes from an id below the
 * floor may have missed that event, and must be told so instead of silently getting a gap.
 */

import { checkNumber } from '../server/options.js';

/** Bounds of history: per topic, and (for the in-memory broker) across all topics. */
export interface HistoryLimits {
  /** Most events kept per topic. Default 1,000. `0` keeps none (every resume is a reset). */
  maxEvents?: number;
  /** Oldest event kept, in milliseconds. Default 1 hour; `Infinity` keeps by count alone. */
  maxAge?: number;
  /**
   * Bytes kept per topic, each event counted as {@link historyEventBytes} says. Past it the
   * oldest events fall out. The newest event is always kept, even one larger than the bound on
   * its own (a resume from just before it still gets it; the Redis broker's live feed needs it
   * too); it falls out with the next event. Default 8 MiB; `Infinity` turns it off.
   */
  maxBytes?: number;
  /**
   * Bytes kept by the in-memory broker across all its topics, counted as {@link historyEventBytes}
   * says, an event published to several topics once (it is one object in memory). Past it the
   * oldest events of the whole broker fall out of every topic they were in, and each of those
   * topics' floor rises past them. Strict: an event larger than this on its own is not kept.
   * Default 64 MiB; `Infinity` turns it off. {@link TopicHistory} itself does not use it.
   */
  maxTotalBytes?: number;
}

export const DEFAULT_HISTORY_MAX_EVENTS = 1000;
export const DEFAULT_HISTORY_MAX_AGE = 60 * 60 * 1000;
/** Default {@link HistoryLimits.maxBytes}: 8 MiB per topic. */
export const DEFAULT_HISTORY_MAX_BYTES = 8 * 1024 * 1024;
/** Default {@link HistoryLimits.maxTotalBytes}: 64 MiB across the in-memory broker's topics. */
export const DEFAULT_HISTORY_MAX_TOTAL_BYTES = 64 * 1024 * 1024;
/**
 * Bytes counted for each event on top of its text: the objects around it (the event and its
 * topics array, string headers, a history slot and the broker's bookkeeping) take about this
 * much in V8, and it keeps a flood of empty events from being free.
 */
export const HISTORY_EVENT_OVERHEAD_BYTES = 128;

// Limits this module resolved (and so validated): a broker makes a history per topic with the
// same limits, and need not have them checked again each time.
const resolved = new WeakSet<HistoryLimits>();

/** Validates and fills in {@link HistoryLimits}. */
export function resolveHistoryLimits(limits: HistoryLimits = {}): Required<HistoryLimits> {
  if (resolved.has(limits)) return limits as Required<HistoryLimits>;
  const maxEvents = limits.maxEvents ?? DEFAULT_HISTORY_MAX_EVENTS;
  const maxAge = limits.maxAge ?? DEFAULT_HISTORY_MAX_AGE;
  const maxBytes = limits.maxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
  const maxTotalBytes = limits.maxTotalBytes ?? DEFAULT_HISTORY_MAX_TOTAL_BYTES;
  checkNumber('history.maxEvents', maxEvents, { min: 0 });
  checkNumber('history.maxAge', maxAge, { fraction: true, unbounded: true });
  checkByteBound('history.maxBytes', maxBytes);
  checkByteBound('history.maxTotalBytes', maxTotalBytes);
  const out = Object.freeze({ maxEvents, maxAge, maxBytes, maxTotalBytes });
  resolved.add(out);
  return out;
}

/** A byte bound is a non-negative integer, or `Infinity` for none. */
export function checkByteBound(name: string, value: number): void {
  checkNumber(name, value, { min: 0, unbounded: true });
}

/**
 * The bytes one event counts for against {@link HistoryLimits.maxBytes} and
 * {@link HistoryLimits.maxTotalBytes}: the UTF-8 length of its `data`, `event` type, `id` and
 * each of its `topics` (what it weighs on the wire, within a factor of two of what V8 holds for
 * the same strings), plus {@link HISTORY_EVENT_OVERHEAD_BYTES}. A lone surrogate counts 3 bytes,
 * as `TextEncoder` would write U+FFFD for it.
 *
 * @example
 * ```ts
 * historyEventBytes({ id: '1-0', data: 'héllo', topics: ['news'] }); // 3 + 6 + 4 + 128 = 141
 * ```
 */
export function historyEventBytes(event: {
  readonly id: string;
  readonly data?: string;
  readonly event?: string | undefined;
  readonly topics?: readonly string[];
}): number {
  let bytes = HISTORY_EVENT_OVERHEAD_BYTES + utf8Length(event.id);
  if (typeof event.data === 'string') bytes += utf8Length(event.data);
  if (typeof event.event === 'string') bytes += utf8Length(event.event);
  if (event.topics !== undefined) for (const topic of event.topics) bytes += utf8Length(topic);
  return bytes;
}

const encoder = new TextEncoder();
// encodeInto writes into it and reports how much it wrote: the length of a long text without a
// copy of it (chunk by chunk; a substring in V8 is a slice, not a copy).
const scratch = new Uint8Array(64 * 1024);

/** @internal UTF-8 length of `text`, without encoding it into a new buffer. */
export function utf8Length(text: string): number {
  if (text.length <= 32) {
    // Short texts (ids, which pass 16 characters from the 100th event of a millisecond on,
    // topics, event types): a loop beats the call into the encoder.
    let bytes = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) bytes += 1;
      else if (c < 0x800) bytes += 2;
      else if ((c & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        bytes += 4; // a surrogate pair: one code point above U+FFFF
        i++;
      } else bytes += 3; // the rest of the BMP, and a lone surrogate (U+FFFD)
    }
    return bytes;
  }
  let bytes = 0;
  let rest = text;
  for (;;) {
    const { read, written } = encoder.encodeInto(rest, scratch);
    bytes += written;
    if (read >= rest.length) return bytes;
    rest = rest.slice(read);
  }
}

// Smallest ring: most topics hold a few events, and an emptied one gives its slots back.
const MIN_CAPACITY = 8;

/**
 * The ring of a history that gave its events away ({@link TopicHistory.take}): no slots, shared,
 * never written to (a push makes room first). A packed topic (a finished reply's log, kept for
 * minutes) then holds no ring of its own.
 */
const NO_SLOTS = Object.freeze([]) as unknown as never[];

/** `capacity` numbers, all 0.5 to start with, so V8 keeps them as unboxed doubles. */
function ring(capacity: number): number[] {
  return new Array<number>(capacity).fill(0.5);
}

/**
 * One topic's newest events in id order, in a ring that never holds more than `maxEvents`
 * events or (but for the newest) more than `maxBytes` bytes. The ring grows and shrinks with
 * what it holds, so a topic whose events fell out holds no slots for them.
 *
 * @example
 * ```ts
 * const h = new TopicHistory(compareStreamIds, '0-0', { maxEvents: 2 });
 * h.push({ id: '1-0' }, 0); h.push({ id: '2-0' }, 0); h.push({ id: '3-0' }, 0);
 * h.floor; // '1-0': it fell out
 * h.after('1-0'); // [{ id: '2-0' }, { id: '3-0' }]
 * ```
 */
export class TopicHistory<E extends { readonly id: string }> {
  /** Newest id that fell out of this history (or the floor it started with). */
  floor: string;
  readonly #compare: (a: string, b: string) => number;
  readonly #maxEvents: number;
  readonly #maxAge: number;
  readonly #maxBytes: number;
  readonly #onDrop: ((event: E) => void) | undefined;
  // A ring: slot (#head + i) & #mask holds the i-th oldest event; its capacity is a power of two.
  // Plain arrays of numbers (V8 keeps them unboxed), not typed arrays: a typed array past 64
  // bytes has its store outside the heap, one more allocation for each ring that grows.
  #events: (E | undefined)[] = new Array<E | undefined>(MIN_CAPACITY);
  #times: number[] = ring(MIN_CAPACITY);
  #sizes: number[] = ring(MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  #head = 0;
  #size = 0;
  #bytes = 0;

  /**
   * @param onDrop called with each event that falls out (by count, age, bytes, {@link evict} or
   *   {@link clear}), after the floor rose past it: the in-memory broker counts with it who
   *   still holds an event.
   */
  constructor(
    compare: (a: string, b: string) => number,
    floor: string,
    limits: HistoryLimits = {},
    onDrop?: (event: E) => void,
  ) {
    const { maxEvents, maxAge, maxBytes } = resolveHistoryLimits(limits);
    this.#compare = compare;
    this.floor = floor;
    this.#maxEvents = maxEvents;
    this.#maxAge = maxAge;
    this.#maxBytes = maxBytes;
    this.#onDrop = onDrop;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of the events kept, as they were pushed. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Id of the newest event kept, if any. */
  get lastId(): string | undefined {
    return this.#size === 0 ? undefined : this.#at(this.#size - 1).id;
  }

  /**
   * Appends an event (ids must arrive in increasing order) published at `time` (ms), counted as
   * `bytes` (default {@link historyEventBytes} of it). Older events fall out first while a bound
   * would be passed. Returns false when it was not kept (`maxEvents` 0).
   */
  push(event: E, time: number, bytes: number = historyEventBytes(event)): boolean {
    if (this.#maxEvents === 0) {
      this.floor = event.id;
      return false;
    }
    while (this.#size > 0 && (this.#size >= this.#maxEvents || this.#bytes + bytes > this.#maxBytes)) {
      this.#dropOldest();
    }
    if (this.#size > this.#mask) this.#resize(Math.max(MIN_CAPACITY, (this.#mask + 1) * 2));
    const slot = (this.#head + this.#size) & this.#mask;
    this.#events[slot] = event;
    this.#times[slot] = time;
    this.#sizes[slot] = bytes;
    this.#size++;
    this.#bytes += bytes;
    return true;
  }

  /** Drops events published before `now - maxAge`. */
  expire(now: number): void {
    const cutoff = now - this.#maxAge;
    while (this.#size > 0 && (this.#times[this.#head] as number) < cutoff) this.#dropOldest();
  }

  /**
   * Drops `event` if it is the oldest kept, raising the floor to it; returns whether it did. The
   * in-memory broker's bound across topics evicts this way, oldest first.
   */
  evict(event: E): boolean {
    if (this.#size === 0 || this.#events[this.#head] !== event) return false;
    this.#dropOldest();
    return true;
  }

  /** Drops every event, raising the floor to the newest. */
  clear(): void {
    while (this.#size > 0) this.#dropOldest();
  }

  /**
   * Takes every event out, oldest first, with the time and bytes each was pushed with: the
   * history is left empty and its floor where it was, since nothing was dropped (so `onDrop` is
   * not called either). The in-memory broker packs a topic's events this way.
   */
  take(): { events: E[]; times: number[]; sizes: number[] } {
    const events: E[] = [];
    const times: number[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < this.#size; i++) {
      const slot = (this.#head + i) & this.#mask;
      events.push(this.#events[slot] as E);
      times.push(this.#times[slot] as number);
      sizes.push(this.#sizes[slot] as number);
    }
    this.#events = NO_SLOTS;
    this.#times = NO_SLOTS;
    this.#sizes = NO_SLOTS;
    this.#mask = -1;
    this.#head = 0;
    this.#size = 0;
    this.#bytes = 0;
    return { events, times, sizes };
  }

  /**
   * Events with an id greater than `afterId`, oldest first. Binary search: the ring is sorted.
   * `afterId` must be an id the compare function accepts.
   */
  after(afterId: string, limit = Number.POSITIVE_INFINITY): E[] {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compare(this.#at(mid).id, afterId) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const out: E[] = [];
    for (let i = lo; i < this.#size && out.length < limit; i++) out.push(this.#at(i));
    return out;
  }

  /** True when an event after `afterId` may have fallen out: resuming from it would leave a gap. */
  isTruncatedAfter(afterId: string): boolean {
    return this.#compare(afterId, this.floor) < 0;
  }

  #at(i: number): E {
    return this.#events[(this.#head + i) & this.#mask] as E;
  }

  #dropOldest(): void {
    const head = this.#head;
    const event = this.#events[head] as E;
    this.floor = event.id;
    this.#events[head] = undefined; // let it be collected
    this.#bytes -= this.#sizes[head] as number;
    this.#head = (head + 1) & this.#mask;
    this.#size--;
    // Shrink at a quarter, grow when full: each slot copied is paid for by a push or a drop.
    if (this.#mask + 1 > MIN_CAPACITY && this.#size <= (this.#mask + 1) / 4)
      this.#resize((this.#mask + 1) / 2);
    this.#onDrop?.(event);
  }

  #resize(capacity: number): void {
    const events = new Array<E | undefined>(capacity);
    const times = ring(capacity);
    const sizes = ring(capacity);
    for (let i = 0; i < this.#size; i++) {
      const slot = (this.#head + i) & this.#mask;
      events[i] = this.#events[slot];
      times[i] = this.#times[slot] as number;
      sizes[i] = this.#sizes[slot] as number;
    }
    this.#events = events;
    this.#times = times;
    this.#sizes = sizes;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

/**
 * Merges per-topic lists (each in id order) into one list in id order, with an event that was
 * published to several of the topics (same id) kept once. At most `limit` events.
 */
export function mergeById<E extends { readonly id: string }>(
  lists: readonly E[][],
  compare: (a: string, b: string) => number,
  limit = Number.POSITIVE_INFINITY,
): E[] {
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length === 0) return [];
  if (nonEmpty.length === 1) {
    const only = nonEmpty[0] as E[];
    return only.length <= limit ? only : only.slice(0, limit);
  }
  // k is small (topics per subscription are bounded), so a linear pick per step is enough.
  const pos = new Array<number>(nonEmpty.length).fill(0);
  const out: E[] = [];
  while (out.length < limit) {
    let best = -1;
    let bestId = '';
    for (let k = 0; k < nonEmpty.length; k++) {
      const list = nonEmpty[k] as E[];
      const p = pos[k] as number;
      if (p >= list.length) continue;
      const id = (list[p] as E).id;
      if (best === -1 || compare(id, bestId) < 0) {
        best = k;
        bestId = id;
      }
    }
    if (best === -1) break;
    out.push((nonEmpty[best] as E[])[pos[best] as number] as E);
    // Skip the same event in the other lists.
    for (let k = 0; k < nonEmpty.length; k++) {
      const list = nonEmpty[k] as E[];
      const p = pos[k] as number;
      if (p < list.length && (list[p] as E).id === bestId) pos[k] = p + 1;
    }
  }
  return out;
}
