/**
 * Event ids in the shape of Redis stream entry ids: `<milliseconds>-<sequence>`, for example
 * `1700000000000-3`. The in-memory broker uses the same shape as the Redis broker, so ids
 * compare the same way whatever the broker, and an id handed out before a restart still sorts
 * before every id handed out after it (the clock moved on), which is what lets a restarted hub
 * tell "this client may have missed something" from "this client is up to date".
 */

// No leading zeros (Redis never writes them), at most 16 digits a part (stays a safe integer).
const STREAM_ID = /^(?:0|[1-9]\d{0,15})-(?:0|[1-9]\d{0,15})$/;

/** True when `value` is a well-formed `<ms>-<seq>` id. */
export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

const DASH = 0x2d;
/** Where the dash of `Date.now()`'s ids is (13 digits from September 2001 to the year 2286). */
const CLOCK_DASH = 13;

/**
 * Orders two well-formed stream ids: negative when `a` is older, 0 when equal, positive when
 * newer. Compares digit strings by length then character by character, so no number is parsed
 * and nothing is allocated (it runs for every event a reader or history sees).
 */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  // The common case, without a search: both have the dash where an id of a millisecond clock
  // after 2001 has it, and the same length, so their sequence parts are as long too; digit
  // strings of equal length order as their text does.
  if (a.length === b.length && a.charCodeAt(CLOCK_DASH) === DASH && b.charCodeAt(CLOCK_DASH) === DASH) {
    return a < b ? -1 : 1;
  }
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  if (da !== db) return da - db;
  for (let i = 0; i < da; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  const sa = a.length - da;
  const sb = b.length - db;
  if (sa !== sb) return sa - sb;
  return a < b ? -1 : 1;
}

/**
 * Hands out strictly increasing stream ids from a clock. Within one millisecond (or while the
 * clock stands still or steps back) the sequence part counts up, as Redis does for `XADD *`.
 */
export class StreamIdGenerator {
  #ms: number;
  /** `#ms` as text, made once a millisecond. */
  #msText: string;
  #seq = -1;
  readonly #now: () => number;

  /** @param now clock in milliseconds since the epoch (injectable for tests). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#ms = Math.max(0, Math.floor(now()));
    this.#msText = String(this.#ms);
    this.start = `${this.#ms}-0`;
  }

  /**
   * The first id this generator can hand out. Any id that sorts below it was handed out by
   * someone else, before this generator existed (a previous run of the process).
   */
  readonly start: string;

  /** The newest id handed out, or `undefined` before the first. */
  last: string | undefined;

  /** The `<ms>` part of the newest id, as a number (once an id was handed out). */
  get ms(): number {
    return this.#ms;
  }

  /** The `<seq>` part of the newest id, as a number (once an id was handed out). */
  get seq(): number {
    return this.#seq;
  }

  /** The next id; `time` is the clock's reading when the caller has just read it. */
  next(time: number = this.#now()): string {
    const now = Math.floor(time);
    if (now > this.#ms) {
      this.#ms = now;
      this.#msText = String(now);
      this.#seq = 0;
    } else {
      this.#seq++;
    }
    // Joined, not concatenated: V8 makes a concatenation of 13 characters or more a tree of its
    // parts (a cons string), which the first comparison, search or encoding of the id then
    // copies into a flat string through the runtime's slow path (an id is compared and written
    // for every reader it reaches). A join makes the flat string at once.
    this.last = [this.#msText, this.#seq].join('-');
    return this.last;
  }
}
