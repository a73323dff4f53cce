/**
 * Bounded per-topic history and the Last-Event-ID lookup (WHATWG HTML §9.2.4: a reconnecting
 * EventSource sends the last id it saw in the `Last-Event-ID` header; this is what the hub looks
 * it up in).
 *
 * Each topic keeps its newest events, bounded by count and by age. When an event falls out, the
 * topic remembers its id as the *floor*: a client that resumes from an id below the floor may
 * have missed that event, and must be told so instead of silently getting a gap.
 */

/** Bounds of one topic's history. */
export interface HistoryLimits {
  /** Most events kept per topic. Default 1,000. `0` keeps none (every resume is a reset). */
  maxEvents?: number;
  /** Oldest event kept, in milliseconds. Default 1 hour; `Infinity` keeps by count alone. */
  maxAgeMs?: number;
}

export const DEFAULT_HISTORY_MAX_EVENTS = 1000;
export const DEFAULT_HISTORY_MAX_AGE_MS = 60 * 60 * 1000;

/** Validates and fills in {@link HistoryLimits}. */
export function resolveHistoryLimits(limits: HistoryLimits = {}): Required<HistoryLimits> {
  const maxEvents = limits.maxEvents ?? DEFAULT_HISTORY_MAX_EVENTS;
  const maxAgeMs = limits.maxAgeMs ?? DEFAULT_HISTORY_MAX_AGE_MS;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 0) {
    throw new RangeError(`history.maxEvents must be a non-negative integer, got ${String(maxEvents)}`);
  }
  if (!(maxAgeMs > 0)) throw new RangeError(`history.maxAgeMs must be positive, got ${String(maxAgeMs)}`);
  return { maxEvents, maxAgeMs };
}

/**
 * One topic's newest events in id order, as a ring that never holds more than `maxEvents`.
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
  readonly #max: number;
  readonly #maxAge: number;
  // A ring: slot (#head + i) % #max holds the i-th oldest event.
  readonly #events: (E | undefined)[];
  readonly #times: number[];
  #head = 0;
  #size = 0;

  constructor(compare: (a: string, b: string) => number, floor: string, limits: HistoryLimits = {}) {
    const { maxEvents, maxAgeMs } = resolveHistoryLimits(limits);
    this.#compare = compare;
    this.floor = floor;
    this.#max = maxEvents;
    this.#maxAge = maxAgeMs;
    this.#events = [];
    this.#times = [];
  }

  get size(): number {
    return this.#size;
  }

  /** Id of the newest event kept, if any. */
  get lastId(): string | undefined {
    return this.#size === 0 ? undefined : this.#at(this.#size - 1).id;
  }

  /** Appends an event (ids must arrive in increasing order) published at `time` (ms). */
  push(event: E, time: number): void {
    if (this.#max === 0) {
      this.floor = event.id;
      return;
    }
    if (this.#size === this.#max) this.#dropOldest();
    const slot = (this.#head + this.#size) % this.#max;
    this.#events[slot] = event;
    this.#times[slot] = time;
    this.#size++;
  }

  /** Drops events published before `now - maxAgeMs`. */
  expire(now: number): void {
    const cutoff = now - this.#maxAge;
    while (this.#size > 0 && (this.#times[this.#head] as number) < cutoff) this.#dropOldest();
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
    return this.#events[(this.#head + i) % this.#max] as E;
  }

  #dropOldest(): void {
    const event = this.#events[this.#head] as E;
    this.floor = event.id;
    this.#events[this.#head] = undefined; // let it be collected
    this.#head = (this.#head + 1) % this.#max;
    this.#size--;
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
