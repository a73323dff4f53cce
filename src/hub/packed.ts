/**
 * A topic's events packed into a few flat objects: the in-memory broker's form for a reply's log
 * (from its second event on, when a reply publishes through `PUBLISH_NOW`) and for any topic that
 * is to be forgotten (`Broker.expire`, which replies call when a reply ends and its log is only
 * kept for resumes). Kept one by one, an event is three objects (the event, its id, its data),
 * which the young generation's collector copies while the reply runs and the full collections
 * mark for as long as the log is kept (10 minutes by default for a reply): with many replies,
 * that was the largest share of what a reply costs per token over a plain stream. Packed, an
 * event is its numbers in a typed array (id, time, bytes: its store is outside the heap, so the
 * collector neither copies nor marks any of it) and its text (type and data) as it was sent, until
 * {@link compact} joins the text of every event into one string.
 */
import type { BrokerEvent } from './broker.js';

/** Numbers kept per event: its id's two parts, where its text ends, its time, bytes and topics. */
const STRIDE = 7;
// Offsets within an event's numbers.
const MS = 0;
const SEQ = 1;
const TYPE_LENGTH = 2; // -1 when it has no type
const TEXT_END = 3; // in #text; set when the event's text is joined into it
const TIME = 4;
const BYTES = 5;
const TOPICS = 6; // in #topicList; set when the event's text is joined

/** Below this many events dropped from the head, their slots are not worth reclaiming. */
const RECLAIM_MIN = 64;

/** What is packed of an event: its id must be a stream id (`<ms>-<seq>`), as the memory broker's are. */
type Source = Pick<BrokerEvent, 'id' | 'topics' | 'event' | 'data'>;

/** The id `<ms>-<seq>` as one flat string (a concatenation this long would be a tree of its parts). */
function idOf(ms: number, seq: number): string {
  return [ms, seq].join('-');
}

export class PackedEvents<Owner = unknown> {
  /** Whose events they are (the memory broker's record of the topic). */
  readonly owner: Owner;
  /** Bytes of the events not dropped yet, as the broker counts them. */
  bytes = 0;
  /** The numbers of events `0 .. #count - 1` (`STRIDE` each), with room for more. */
  #numbers: Float64Array;
  /** The text of events `0 .. #joined - 1`, one after the other. */
  #text = '';
  #joined = 0;
  /** The text of events `#joined ..`, one string each, as appended, and their topic arrays. */
  #parts: string[] = [];
  #partTopics: (readonly string[])[] = [];
  /** The topic arrays of events `0 .. #joined - 1`, each once (a reply's share one or two). */
  #topicList: (readonly string[])[] = [];
  #count = 0;
  /** The first event not dropped. */
  #head = 0;
  // Neighbours in the broker's chain of packed topics.
  prev: PackedEvents<Owner> | null = null;
  next: PackedEvents<Owner> | null = null;

  /**
   * @param owner whose events they are
   * @param events oldest first
   * @param times when each was pushed into the history (ms), for its age bound
   * @param sizes the bytes the broker counted for each
   * @param room events to make room for beyond these (a topic that goes on taking events)
   */
  constructor(
    owner: Owner,
    events: readonly Source[],
    times: readonly number[],
    sizes: readonly number[],
    room = 0,
  ) {
    this.owner = owner;
    this.#numbers = new Float64Array(Math.max(events.length + room, 1) * STRIDE);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Source;
      const dash = event.id.indexOf('-');
      this.append(
        Number(event.id.slice(0, dash)),
        Number(event.id.slice(dash + 1)),
        event,
        times[i] as number,
        sizes[i] as number,
      );
    }
    // The text joined; the room made for more events is kept.
    this.compact(false);
  }

  /** Events not dropped. */
  get size(): number {
    return this.#count - this.#head;
  }

  /** The oldest event's id (there must be one). */
  get firstId(): string {
    return this.#id(this.#head);
  }

  /** The newest event's id (there must be one). */
  get lastId(): string {
    return this.#id(this.#count - 1);
  }

  /** When the oldest event was pushed (there must be one). */
  get firstTime(): number {
    return this.#numbers[this.#head * STRIDE + TIME] as number;
  }

  /**
   * Adds the newest event: its id is `<ms>-<seq>` (passed as its two numbers, which the broker
   * has), above every id here.
   */
  append(ms: number, seq: number, event: Source, time: number, bytes: number): void {
    const type = event.event;
    const at = this.#count * STRIDE;
    if (at + STRIDE > this.#numbers.length) {
      const more = new Float64Array(Math.max(this.#numbers.length * 2, 16 * STRIDE));
      more.set(this.#numbers);
      this.#numbers = more;
    }
    const numbers = this.#numbers;
    numbers[at + MS] = ms;
    numbers[at + SEQ] = seq;
    numbers[at + TYPE_LENGTH] = type === undefined ? -1 : type.length;
    numbers[at + TIME] = time;
    numbers[at + BYTES] = bytes;
    this.#parts.push(type === undefined ? event.data : type + event.data);
    this.#partTopics.push(event.topics);
    this.#count++;
    this.bytes += bytes;
  }

  /** Drops the oldest event: returns its bytes. */
  dropFirst(): number {
    const bytes = this.#numbers[this.#head * STRIDE + BYTES] as number;
    this.#head++;
    this.bytes -= bytes;
    // A topic that goes on taking events while its oldest fall out gives their room back.
    if (this.#head >= RECLAIM_MIN && this.#head * 2 >= this.#count) this.compact();
    return bytes;
  }

  /**
   * Joins the text of every event into one string and lets go of what the dropped ones held:
   * fewest objects for the collector, for a topic that is only read from now on. `trim`: and of
   * the room made for more events.
   */
  compact(trim = true): void {
    const head = this.#head;
    const exact = this.#numbers.length === this.#count * STRIDE;
    if (head === 0 && this.#joined === this.#count && (exact || !trim)) return;
    // The text of the events kept, and where each one's ends in it.
    const start = this.#textStart(head);
    const pieces: string[] = [];
    if (head < this.#joined) pieces.push(this.#text.slice(start));
    const numbers = this.#numbers;
    const list: (readonly string[])[] = [];
    const listed = new Map<readonly string[], number>();
    let end = 0;
    for (let i = head; i < this.#count; i++) {
      const at = i * STRIDE;
      let topics: readonly string[];
      if (i < this.#joined) {
        end = (numbers[at + TEXT_END] as number) - start;
        topics = this.#topicList[numbers[at + TOPICS] as number] as readonly string[];
      } else {
        const part = this.#parts[i - this.#joined] as string;
        pieces.push(part);
        end += part.length;
        topics = this.#partTopics[i - this.#joined] as readonly string[];
      }
      let index = listed.get(topics);
      if (index === undefined) {
        index = list.push(topics) - 1;
        listed.set(topics, index);
      }
      numbers[at + TEXT_END] = end;
      numbers[at + TOPICS] = index;
    }
    this.#text = pieces.join('');
    this.#parts = [];
    this.#partTopics = [];
    this.#topicList = list;
    // A copy as long as what it holds (an array grown by appends has room for as much again).
    if (head > 0 || (trim && !exact)) this.#numbers = numbers.slice(head * STRIDE, this.#count * STRIDE);
    this.#count -= head;
    this.#head = 0;
    this.#joined = this.#count;
  }

  /** The events with ids above `afterId`, oldest first, at most `limit`. */
  after(afterId: string, limit: number, compare: (a: string, b: string) => number): BrokerEvent[] {
    let lo = this.#head;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(this.#id(mid), afterId) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const out: BrokerEvent[] = [];
    for (let i = lo; i < this.#count && out.length < limit; i++) out.push(this.#event(i));
    return out;
  }

  #id(i: number): string {
    return idOf(this.#numbers[i * STRIDE + MS] as number, this.#numbers[i * STRIDE + SEQ] as number);
  }

  /** Where the text of event `i` starts in #text (joined events only, and the first one after them). */
  #textStart(i: number): number {
    return i === 0 ? 0 : (this.#numbers[(i - 1) * STRIDE + TEXT_END] as number);
  }

  #event(i: number): BrokerEvent {
    const at = i * STRIDE;
    let text: string;
    let topics: readonly string[];
    if (i < this.#joined) {
      text = this.#text.slice(this.#textStart(i), this.#numbers[at + TEXT_END] as number);
      topics = this.#topicList[this.#numbers[at + TOPICS] as number] as readonly string[];
    } else {
      text = this.#parts[i - this.#joined] as string;
      topics = this.#partTopics[i - this.#joined] as readonly string[];
    }
    const typeLength = this.#numbers[at + TYPE_LENGTH] as number;
    const event = typeLength < 0 ? undefined : text.slice(0, typeLength);
    const data = typeLength < 0 ? text : text.slice(typeLength);
    return { id: this.#id(i), topics, event, data };
  }
}
