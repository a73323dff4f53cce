/**
 * A topic's events packed into three flat objects: the in-memory broker's form for a topic that
 * is to be forgotten (`Broker.expire`, which replies call when a reply ends and its log is only
 * kept for resumes). Kept one by one, an event is three objects (the event, its id, its data),
 * and the collector marks every one of them at each full collection for as long as the log is
 * kept (10 minutes by default for a reply): with many replies kept, that marking was the largest
 * share of what a reply costs per token over a plain stream. Packed, the ids are one string, the
 * types and data another, and the numbers one typed array (its store is outside the heap: the
 * collector marks none of it).
 */
import type { BrokerEvent } from './broker.js';

/**
 * Numbers kept per event in {@link PackedEvents}: where its id and text end, its time, bytes and
 * topics.
 */
const STRIDE = 6;
// Offsets within an event's numbers.
const ID_END = 0;
const TYPE_LENGTH = 1; // -1 when it has no type
const DATA_END = 2;
const TIME = 3;
const BYTES = 4;
const TOPICS = 5; // index in #topics

/** What is packed of an event (an event the broker keeps, or one it hands out). */
type Source = Pick<BrokerEvent, 'id' | 'topics' | 'event' | 'data'>;

export class PackedEvents<Owner = unknown> {
  /** Whose events they are (the memory broker's record of the topic). */
  readonly owner: Owner;
  /** Bytes of the events not dropped yet, as the broker counts them. */
  bytes = 0;
  readonly #ids: string;
  readonly #text: string;
  readonly #numbers: Float64Array;
  /** The events' topic arrays, each once (a reply's events share one or two frozen ones). */
  readonly #topics: (readonly string[])[] = [];
  readonly #count: number;
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
   */
  constructor(owner: Owner, events: readonly Source[], times: readonly number[], sizes: readonly number[]) {
    this.owner = owner;
    const ids: string[] = [];
    const text: string[] = [];
    const numbers = new Float64Array(events.length * STRIDE);
    let idEnd = 0;
    let textEnd = 0;
    const topicIndex = new Map<readonly string[], number>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Source;
      ids.push(event.id);
      idEnd += event.id.length;
      let typeLength = -1;
      if (event.event !== undefined) {
        text.push(event.event);
        typeLength = event.event.length;
        textEnd += typeLength;
      }
      text.push(event.data);
      textEnd += event.data.length;
      const bytes = sizes[i] as number;
      let topics = topicIndex.get(event.topics);
      if (topics === undefined) {
        topics = this.#topics.push(event.topics) - 1;
        topicIndex.set(event.topics, topics);
      }
      const at = i * STRIDE;
      numbers[at + ID_END] = idEnd;
      numbers[at + TYPE_LENGTH] = typeLength;
      numbers[at + DATA_END] = textEnd;
      numbers[at + TIME] = times[i] as number;
      numbers[at + BYTES] = bytes;
      numbers[at + TOPICS] = topics;
      this.bytes += bytes;
    }
    // Joined: one flat string each (a concatenation would be a tree of as many parts).
    this.#ids = ids.join('');
    this.#text = text.join('');
    this.#numbers = numbers;
    this.#count = events.length;
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

  /** Drops the oldest event: returns its bytes. */
  dropFirst(): number {
    const bytes = this.#numbers[this.#head * STRIDE + BYTES] as number;
    this.#head++;
    this.bytes -= bytes;
    return bytes;
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

  /** Every event not dropped, as events again, with the time and bytes each was kept with. */
  unpack(): { events: BrokerEvent[]; times: number[]; sizes: number[] } {
    const events: BrokerEvent[] = [];
    const times: number[] = [];
    const sizes: number[] = [];
    for (let i = this.#head; i < this.#count; i++) {
      events.push(this.#event(i));
      times.push(this.#numbers[i * STRIDE + TIME] as number);
      sizes.push(this.#numbers[i * STRIDE + BYTES] as number);
    }
    return { events, times, sizes };
  }

  #id(i: number): string {
    const start = i === 0 ? 0 : (this.#numbers[(i - 1) * STRIDE + ID_END] as number);
    return this.#ids.slice(start, this.#numbers[i * STRIDE + ID_END] as number);
  }

  #event(i: number): BrokerEvent {
    const numbers = this.#numbers;
    const at = i * STRIDE;
    let start = i === 0 ? 0 : (numbers[at - STRIDE + DATA_END] as number);
    const typeLength = numbers[at + TYPE_LENGTH] as number;
    let event: string | undefined;
    if (typeLength >= 0) {
      event = this.#text.slice(start, start + typeLength);
      start += typeLength;
    }
    const data = this.#text.slice(start, numbers[at + DATA_END] as number);
    const topics = this.#topics[numbers[at + TOPICS] as number] as readonly string[];
    return { id: this.#id(i), topics, event, data };
  }
}
