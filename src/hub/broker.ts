/**
 * The hub knows its event store and bus only through {@link Broker}. The in-memory broker here
 * serves one process (or, behind `ssekit/cluster`, the workers of one machine); a Redis Streams
 * broker implements the same interface for many instances.
 *
 * The contract, in short:
 * - The broker assigns ids. One publish gets one id, the same on every topic it goes to, and ids
 *   are totally ordered by {@link Broker.compareIds} across all topics and all hub instances
 *   sharing the broker. That is what lets a client resume on any instance with the id it got
 *   from another.
 * - `history(topics, afterId)` returns what the broker still keeps after an id, and says when
 *   that is not everything (`truncated`), so the hub can tell the client to refetch its state.
 * - `subscribe()` opens the one live feed of a process: the hub calls it once and tells it which
 *   topics it needs; the broker delivers each event once, in id order, whatever the number of
 *   local subscribers.
 */

import { checkNumber } from '../server/options.js';
import { BrokerError } from './errors.js';
import {
  HISTORY_EVENT_OVERHEAD_BYTES,
  type HistoryLimits,
  historyEventBytes,
  mergeById,
  resolveHistoryLimits,
  TopicHistory,
  utf8Length,
} from './history.js';
import { compareStreamIds, isStreamId, StreamIdGenerator } from './ids.js';
import { PackedEvents } from './packed.js';

/** What a publisher hands the broker: the event without its id. */
export interface BrokerEventInit {
  /** SSE event type; `undefined` means the default (`message`). */
  readonly event?: string | undefined;
  /** The payload, any text. */
  readonly data: string;
}

/** An event as the broker stores and delivers it. */
export interface BrokerEvent extends BrokerEventInit {
  /** Assigned by the broker; see {@link Broker.compareIds}. */
  readonly id: string;
  /** Every topic it was published to. */
  readonly topics: readonly string[];
}

/** A page of history. */
export interface HistoryPage {
  /**
   * Events of any of the asked topics with an id greater than `afterId`, in id order, each once
   * (an event published to several of the topics appears once). At most `limit` of them.
   */
  readonly events: readonly BrokerEvent[];
  /** `limit` cut the page: ask again after the last event's id for the rest. */
  readonly more: boolean;
  /**
   * True when the broker no longer keeps everything after `afterId` for these topics (history
   * trimmed past it, the broker restarted, or `afterId` is not an id this broker recognises).
   * The hub then tells the client to refetch its state instead of replaying with a gap.
   */
  readonly truncated: boolean;
  /**
   * The newest id the broker had assigned (on any topic) when it read this page, or an id that
   * sorts below all future ids when it has assigned none. A client that has the state as of now
   * resumes after `head` and misses nothing: the hub sends it with its `reset` event.
   */
  readonly head: string;
}

export interface HistoryOptions {
  /** Most events in one page. The hub pages through long replays. */
  readonly limit?: number;
}

/** Receives the live events of a process's feed. */
export interface BrokerListener {
  /** One live event, delivered once, in id order, for any topic the feed follows. */
  onEvent(event: BrokerEvent): void;
  /**
   * The feed failed (lost its connection, for example). Events may have been missed; the hub
   * reports it and ends its subscribers with a retry hint so they resume from history.
   */
  onError(error: unknown): void;
}

/** A process's live feed: which topics it follows changes as subscribers come and go. */
export interface BrokerFeed {
  /**
   * Starts following topics. Resolves once every event published to them *after* it resolves
   * will reach the listener. The hub reads history only after that, which is how it closes the
   * seam between history and live events. The feed may lag behind history: an event can reach
   * the listener after a history read already returned it (Redis reads the feed on its own
   * connection). The hub drops such an event for a subscriber that has it. Calls apply in order
   * with `unfollow`.
   */
  follow(topics: readonly string[]): Promise<void>;
  /** Stops following topics (the hub keeps its own count and calls this for the last one). */
  unfollow(topics: readonly string[]): Promise<void>;
  /** Stops the feed. No listener call follows the returned promise. */
  close(): Promise<void>;
}

/**
 * The event store and bus of a hub.
 *
 * @example A broker that wraps another, logging publishes:
 * ```ts
 * import { type Broker, createMemoryBroker } from 'ssekit/hub';
 *
 * const inner = createMemoryBroker();
 * const logged: Broker = {
 *   ...inner,
 *   async publish(topics, event) {
 *     const id = await inner.publish(topics, event);
 *     console.log('published', id, topics);
 *     return id;
 *   },
 * };
 * ```
 */
export interface Broker {
  /**
   * Stores an event on every topic in `topics` (non-empty, no duplicates) under one new id and
   * delivers it to every feed that follows any of them. Resolves with the id once the event is
   * in history. Ids of successive publishes increase.
   */
  publish(topics: readonly string[], event: BrokerEventInit): Promise<string>;
  /** See {@link HistoryPage}. `afterId` may be anything a client sent; bad ids are `truncated`. */
  history(topics: readonly string[], afterId: string, options?: HistoryOptions): Promise<HistoryPage>;
  /** Opens this process's live feed. The hub calls it once. */
  subscribe(listener: BrokerListener): BrokerFeed;
  /** Orders two ids this broker assigned: negative, zero or positive. Synchronous and cheap. */
  compareIds(a: string, b: string): number;
  /** True when `id` has the shape of an id this broker assigns (cheap syntax check). */
  isValidId(id: string): boolean;
  /** Releases the broker's resources. Publishing afterwards fails with a {@link BrokerError}. */
  close(): Promise<void>;
  /**
   * Optional: what the history of one topic keeps at most (this broker's per-topic bounds):
   * `maxEvents` events and `maxBytes` bytes, each event counted as {@link historyEventBytes}
   * says (`Infinity`: no such bound). Past them the oldest events are trimmed. A layer that needs
   * a topic kept whole checks its own bounds against these: replies (`ssekit/replies`) fit a
   * reply's log under them, markers included.
   */
  readonly topicLimits?: { readonly maxEvents: number; readonly maxBytes: number };
  /**
   * Optional: sets `name` to `value` for `ttl` unless `name` already holds a value, atomically
   * for every process sharing the broker (on Redis, `SET name value NX PX ttl GET`). Resolves
   * with the value `name` holds after the call: `value` when this call set it, the earlier
   * holder's otherwise. Replies (`ssekit/replies`) claim an `Idempotency-Key` with it: the first
   * POST sets the key to its reply, concurrent ones learn which reply to join. Without it, they
   * claim in the memory of their own process (joins then work within one process only).
   */
  claim?(name: string, value: string, ttl: number): Promise<string>;
  /**
   * Optional: forgets `topics` `ttl` from now (on Redis, `PEXPIRE` on their streams; `0`: at
   * once): their history is dropped. A later call replaces the time. Meant for topics whose
   * readers can tell a dropped history from an empty one (replies look for their own open
   * marker): the memory broker reports a resume from before the drop as `truncated`, Redis
   * keeps nothing to tell. Replies use it to drop a reply's log once its retention is over;
   * without it, a log is kept as long as the broker's own bounds keep it. Until then the memory
   * broker keeps such a topic's events packed (a few flat objects for the whole topic, not three
   * per event: far less for its collector to mark); what is published to it later is packed too.
   */
  expire?(topics: readonly string[], ttl: number): Promise<void>;
}

export interface MemoryBrokerOptions {
  /**
   * Bounds of the history: per topic (`maxEvents`, `maxAge`, `maxBytes`) and across all
   * topics (`maxTotalBytes`, 64 MiB by default). See {@link HistoryLimits}.
   */
  history?: HistoryLimits;
  /**
   * Most topics with a history. Past it, the topic published to least recently is dropped (and
   * resumes on it report `truncated`). Default 10,000.
   */
  maxTopics?: number;
  /**
   * Most names held by {@link Broker.claim} at once. Past it, the oldest claim is forgotten
   * first. Default 100,000.
   */
  maxClaims?: number;
  /** Clock in ms since the epoch; ids, history age, claims and expiries use it. Default `Date.now`. */
  now?: () => number;
}

/** What {@link createMemoryBroker} returns: a {@link Broker}, plus what it holds. */
export interface MemoryBroker extends Broker {
  /**
   * Bytes of history held now, across all topics, as counted against
   * {@link HistoryLimits.maxTotalBytes} (each event once, by {@link historyEventBytes}).
   */
  historyBytes(): number;
}

/** A topic's place in the memory broker's publish recency. */
interface Recent {
  readonly topic: string;
  readonly history: TopicHistory<Kept>;
  /** UTF-8 length of the topic's name, counted in each of its events' bytes. */
  readonly bytes: number;
  /**
   * When the topic is to be forgotten (`expire`), in ms since the epoch; `Infinity` for never.
   * Kept here, not in a map of its own: a publish looks its topic up once.
   */
  until: number;
  /** Its history was dropped: a {@link PublishMemo} holding it looks the topic up again. */
  dropped: boolean;
  /**
   * Its events, packed, once the topic was given an expiry or a reply's log took its second
   * event (its `history` is then empty, with its floor kept): see {@link PackedEvents}. Later
   * publishes to it are appended to them.
   */
  packed: PackedEvents<Recent> | null;
  prev: Recent | null;
  next: Recent | null;
}

/**
 * A doubly linked list through its nodes' own `prev` and `next`, oldest first: appending and
 * removing a node cost a few pointer writes and allocate nothing. The memory broker keeps its
 * topics in publish recency this way.
 */
class Chain<N extends { prev: N | null; next: N | null }> {
  first: N | null = null;
  last: N | null = null;

  append(node: N): void {
    node.prev = this.last;
    node.next = null;
    if (this.last === null) this.first = node;
    else this.last.next = node;
    this.last = node;
  }

  remove(node: N): void {
    if (node.prev === null) this.first = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.last = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
  }

  clear(): void {
    this.first = null;
    this.last = null;
  }
}

/** Events a reply's log is given room for when it is packed, at its second (it doubles after). */
const LOG_ROOM = 32;

/**
 * Under this symbol a broker that takes a publish at once (the in-memory one) offers it as a
 * plain call: it returns the event published, or throws what `publish` would reject with. ssekit's replies
 * use it to spare a promise and a turn per event; a broker without it (Redis, or any wrapper
 * around the in-memory one) is published to through `publish`.
 */
export const PUBLISH_NOW: unique symbol = Symbol('ssekit.publishNow') as never;

/**
 * What a caller of the synchronous publish keeps between its publishes to the same topics (one
 * per reply): the broker remembers there where their history is, and need not look it up again.
 * Opaque to the caller; start with `{}`.
 */
export interface PublishMemo {
  recent?: unknown;
  /**
   * The UTF-8 bytes of the next event's `data` and `event` type, when the caller has just
   * measured them (a reply does, for its own bounds): the broker takes them instead of measuring
   * again, and clears it.
   */
  size?: number | undefined;
}

/**
 * The synchronous publish: `topics` must be a frozen array (it is kept as is), `memo` one the
 * caller keeps for these topics.
 */
export type PublishNowFn = (
  topics: readonly string[],
  init: BrokerEventInit,
  memo?: PublishMemo,
) => BrokerEvent;

/** What a broker offers under {@link PUBLISH_NOW}: the synchronous publish, and its `publish`. */
interface PublishNow {
  readonly publish: Broker['publish'];
  readonly now: PublishNowFn;
}

/**
 * The synchronous publish a broker offers under {@link PUBLISH_NOW}, if any (it returns the event
 * as published: its id, and the object the broker keeps and its feeds get): only while its
 * `publish` is the one that goes with it. A wrapper that inherits from the in-memory broker
 * (`Object.create`, a `Proxy`) and replaces `publish` sees every publish through its own.
 */
export function publishNowOf(broker: Broker): PublishNowFn | undefined {
  const offered = (broker as { [PUBLISH_NOW]?: PublishNow })[PUBLISH_NOW];
  return offered !== undefined && offered.publish === broker.publish ? offered.now : undefined;
}

interface Feed {
  readonly listener: BrokerListener;
  readonly topics: Set<string>;
}

/**
 * An event as the memory broker keeps it: the event itself, as listeners and history pages get
 * it (`id`, `topics`, `event`, `data`), and, in private fields no copy, spread or JSON of it
 * shows, what the bound across topics needs. One object per event, not the event and a record
 * around it: fewer objects for the collector to copy and mark while the history keeps them.
 */
class Kept implements BrokerEvent {
  readonly id: string;
  readonly topics: readonly string[];
  readonly event: string | undefined;
  readonly data: string;
  readonly #bytes: number;
  /** How many topic histories hold it. */
  #refs = 0;
  // Neighbours in publish order (which is id order) among the events some topic holds, in the
  // broker's list of them.
  #prev: Kept | null = null;
  #next: Kept | null = null;

  constructor(id: string, topics: readonly string[], init: BrokerEventInit, bytes: number) {
    this.id = id;
    this.topics = topics;
    this.event = init.event;
    this.data = init.data;
    this.#bytes = bytes;
  }

  static bytesOf(kept: Kept): number {
    return kept.#bytes;
  }

  /** A topic's history took it. */
  static hold(kept: Kept): void {
    kept.#refs++;
  }

  static held(kept: Kept): boolean {
    return kept.#refs > 0;
  }

  /** A topic's history let it go: out of the list once no history holds it. */
  static release(list: KeptList, kept: Kept): void {
    if (--kept.#refs === 0) Kept.unlink(list, kept);
  }

  /** Appends it to the list (the newest event kept). */
  static link(list: KeptList, kept: Kept): void {
    kept.#prev = list.last;
    if (list.last === null) list.first = kept;
    else list.last.#next = kept;
    list.last = kept;
    list.bytes += kept.#bytes;
  }

  static unlink(list: KeptList, kept: Kept): void {
    // Not in the list: neither linked from a neighbour nor its first.
    if (kept.#prev === null && list.first !== kept) return;
    if (kept.#prev === null) list.first = kept.#next;
    else kept.#prev.#next = kept.#next;
    if (kept.#next === null) list.last = kept.#prev;
    else kept.#next.#prev = kept.#prev;
    kept.#prev = null;
    kept.#next = null;
    list.bytes -= kept.#bytes;
  }
}

/** Every event some topic holds, oldest first, and their bytes (see {@link Kept.link}). */
interface KeptList {
  first: Kept | null;
  last: Kept | null;
  bytes: number;
}

/**
 * A {@link Broker} in the memory of one process: ids like Redis stream ids (`<ms>-<seq>`),
 * bounded history per topic and in all, and synchronous delivery to the process's feed.
 *
 * Memory: each topic keeps at most `history.maxEvents` events and `history.maxBytes` bytes, and
 * all topics together at most `history.maxTotalBytes` (the oldest events of the whole broker
 * fall out first, from every topic they were in). Whatever falls out raises its topics' floors,
 * so a client resuming from before it gets `truncated` (the hub sends `reset`), never a gap.
 * Each publish costs O(1) amortized whatever the number of topics.
 *
 * A restarted process knows nothing of the ids before it started: a client resuming from one
 * gets `truncated` (a reset), never a silent gap.
 *
 * @example
 * ```ts
 * const broker = createMemoryBroker({
 *   history: { maxEvents: 500, maxAge: 10 * 60_000, maxTotalBytes: 256 * 1024 * 1024 },
 * });
 * const hub = createHub({ broker });
 * ```
 */
export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const limits = resolveHistoryLimits(options.history);
  const maxTopics = options.maxTopics ?? 10_000;
  checkNumber('maxTopics', maxTopics);
  const maxClaims = checkNumber('maxClaims', options.maxClaims ?? 100_000);
  const now = options.now ?? Date.now;
  const ids = new StreamIdGenerator(now);
  // Ids below this may exist out there (an earlier run, a dropped topic): resuming from one is
  // truncated. It only rises.
  let globalFloor = ids.start;
  // Each topic with a history, also linked in publish recency, least recent first: a publish
  // moves its topic to the end with a few pointer writes (not a delete and re-insert into the
  // Map, which costs a hash and a tombstone per publish).
  const histories = new Map<string, Recent>();
  const recency = new Chain<Recent>();
  const feeds = new Set<Feed>();
  // Topics asked to be forgotten (`expire`), swept for their `until`.
  const expiring = new Set<Recent>();
  // Map order is claim order: past maxClaims the oldest goes first.
  const claims = new Map<string, { value: string; until: number }>();
  // Expired topics and claims are swept at most once a second; a topic is also checked when used.
  let nextSweep = 0;
  let closed = false;

  // Every event some topic holds, oldest first, and their bytes: the bound across topics evicts
  // from the head, so it never scans the topics.
  const kept: KeptList = { first: null, last: null, bytes: 0 };

  // A topic let an event go (by count, age, bytes, or the eviction below).
  const onDrop = (event: Kept): void => Kept.release(kept, event);

  // Topics whose events are packed, in the order they were packed (see `pack`), and their bytes:
  // with `kept.bytes`, what the bound across topics counts.
  const packs = new Chain<PackedEvents<Recent>>();
  let packedBytes = 0;

  /** `r`'s events are packed no more (all of them dropped, or the topic): out of the chain and the count. */
  const unlinkPack = (r: Recent, pack: PackedEvents<Recent>): void => {
    r.packed = null;
    packs.remove(pack);
    packedBytes -= pack.bytes;
  };

  /** Drops the oldest event of a packed topic (as its history would), raising its floor. */
  const dropPacked = (pack: PackedEvents<Recent>): void => {
    const r = pack.owner;
    const id = pack.firstId;
    packedBytes -= pack.dropFirst();
    if (compareStreamIds(id, r.history.floor) > 0) r.history.floor = id;
    if (pack.size === 0) unlinkPack(r, pack);
  };

  const enforceTotal = (): void => {
    while (kept.bytes + packedBytes > limits.maxTotalBytes) {
      // The oldest event of all goes first: the head of the list of events kept one by one, or
      // that of the topic packed first (topics are packed about when they end, so the first one
      // packed holds about the oldest packed events; within a topic, events go oldest first).
      const pack = packs.first;
      if (pack !== null && (kept.first === null || compareStreamIds(pack.firstId, kept.first.id) < 0)) {
        dropPacked(pack);
        continue;
      }
      if (kept.first === null) break;
      const oldest = kept.first;
      // It is the oldest event of every topic that holds it (they all hold it in id order and
      // hold nothing older than the oldest event of all), so each lets it go and raises its
      // floor: a resume from before it on any of them is truncated.
      for (const topic of oldest.topics) histories.get(topic)?.history.evict(oldest);
      // Cannot happen (every history that holds it is in `histories` under one of its topics);
      // keeps the loop finite whatever happens.
      Kept.unlink(kept, oldest);
    }
  };

  /** Drops a topic's history; resumes from before its last event are truncated from now on. */
  const drop = (topicHeld: Recent): void => {
    const { topic, history } = topicHeld;
    const pack = topicHeld.packed;
    if (pack !== null) {
      unlinkPack(topicHeld, pack);
      if (pack.size > 0 && compareStreamIds(pack.lastId, history.floor) > 0) history.floor = pack.lastId;
    }
    topicHeld.dropped = true;
    recency.remove(topicHeld);
    histories.delete(topic);
    expiring.delete(topicHeld);
    history.clear(); // its events no longer count, and its floor rises to its newest
    if (compareStreamIds(history.floor, globalFloor) > 0) globalFloor = history.floor;
  };

  /** The history of `topic`, if it has one and its expiry has not passed (else it is dropped). */
  const current = (topic: string, time: number): Recent | undefined => {
    const r = histories.get(topic);
    if (r === undefined || r.until > time) return r;
    drop(r);
    return undefined;
  };

  const sweep = (time: number): void => {
    if (time < nextSweep) return;
    nextSweep = time + 1000;
    // A Set may be changed while iterated: what drop deletes is simply not visited again.
    for (const r of expiring) if (r.until <= time) drop(r);
    for (const [name, claim] of claims) if (claim.until <= time) claims.delete(name);
  };

  /** `r` is now the most recently published topic. */
  const touch = (r: Recent): Recent => {
    if (r !== recency.last) {
      recency.remove(r);
      recency.append(r);
    }
    return r;
  };

  const historyOf = (topic: string, time: number): Recent => {
    const r = current(topic, time);
    if (r !== undefined) return touch(r);
    const history = new TopicHistory<Kept>(compareStreamIds, globalFloor, limits, onDrop);
    const added: Recent = {
      topic,
      history,
      bytes: utf8Length(topic),
      until: Number.POSITIVE_INFINITY,
      dropped: false,
      packed: null,
      prev: null,
      next: null,
    };
    histories.set(topic, added);
    recency.append(added);
    if (histories.size > maxTopics && recency.first !== null) drop(recency.first);
    return added;
  };

  /**
   * `event`, the one just published, into the history of its topic `r`, with what fell out of it
   * by now dropped first: one by one, or appended to its packed events.
   */
  const keep = (r: Recent, event: Kept, time: number): void => {
    if (r.packed !== null && appendPacked(r, event, time, Kept.bytesOf(event))) return;
    r.history.expire(time);
    if (r.history.push(event, time, Kept.bytesOf(event))) Kept.hold(event);
  };

  /**
   * Appends `event`, the one just published (its id is the generator's newest), to the packed
   * events of `r`, within the topic's bounds as its history would keep them: at most
   * `maxEvents`, and at most `maxBytes` but for the newest. False when nothing is packed there
   * any more (everything in it was past the age bound): it goes into the history then.
   */
  const appendPacked = (r: Recent, event: BrokerEvent, time: number, bytes: number): boolean => {
    if (limits.maxAge !== Number.POSITIVE_INFINITY) expirePacked(r, time);
    const pack = r.packed;
    if (pack === null) return false;
    pack.append(ids.ms, ids.seq, event, time, bytes);
    packedBytes += bytes;
    while (pack.size > limits.maxEvents || (pack.bytes > limits.maxBytes && pack.size > 1)) dropPacked(pack);
    return true;
  };

  /**
   * Packs the events of `r` (see {@link PackedEvents}): they leave its history and, unless
   * another topic's history holds them too, the list of events kept one by one. An event of
   * several topics (a reply's open marker and end are in its log and its control topic) is then
   * kept twice, packed here and as it was elsewhere, and its bytes counted twice, until the other
   * topic lets it go or is packed too: the bound in all may only be reached sooner, and is
   * enforced here as on a publish.
   */
  const pack = (r: Recent, room = 0): void => {
    if (r.packed !== null || r.history.size === 0) return;
    const { events, times, sizes } = r.history.take();
    for (const event of events) Kept.release(kept, event);
    const packed = new PackedEvents(r, events, times, sizes, room);
    packs.append(packed);
    packedBytes += packed.bytes;
    r.packed = packed;
    // Events it shares with a topic not packed now count twice: the bound in all still holds.
    enforceTotal();
  };

  /** Drops what is past the age bound from a packed topic, as its history's `expire` would. */
  const expirePacked = (r: Recent, time: number): void => {
    const cutoff = time - limits.maxAge;
    while (r.packed !== null && r.packed.firstTime < cutoff) dropPacked(r.packed);
  };

  /**
   * A publish, done at once (nothing in it waits): `publish` and {@link PUBLISH_NOW} run it.
   * Returns the event as kept and handed to the feeds.
   */
  const publishNow = (topics: readonly string[], init: BrokerEventInit, memo?: PublishMemo): BrokerEvent => {
    // Taken (and cleared) first: it is for this event only, whatever happens to it.
    const measured = memo?.size;
    if (measured !== undefined) (memo as PublishMemo).size = undefined;
    if (closed) throw new BrokerError('closed', 'the broker is closed');
    const time = now();
    sweep(time);
    const id = ids.next(time);
    // A frozen array cannot change under the event: it is kept as is (a reply passes the same
    // one for each of its events, through PUBLISH_NOW, which takes only frozen ones), any other
    // is copied.
    const held = memo !== undefined || Object.isFrozen(topics) ? topics : [...topics];
    // What historyEventBytes(event) counts, with each topic's length kept by its history rather
    // than measured again for every event.
    // The id is this broker's own (`<ms>-<seq>`, ASCII): its length is its UTF-8 length.
    let bytes =
      HISTORY_EVENT_OVERHEAD_BYTES +
      id.length +
      (measured ?? utf8Length(init.data) + (init.event === undefined ? 0 : utf8Length(init.event)));
    let event: Kept;
    if (held.length === 1) {
      // One topic (a reply's log): its history is looked up once, or not at all when the memo
      // has it (still held, not expired, and the topic's).
      const topic = held[0] as string;
      const known = memo?.recent as Recent | undefined;
      let r: Recent;
      if (known !== undefined && !known.dropped && known.until > time && known.topic === topic) {
        r = touch(known);
      } else {
        r = historyOf(topic, time);
        if (memo !== undefined) memo.recent = r;
      }
      if (memo !== undefined) {
        // A reply's log (the one caller with a memo): packed from its second event on, so that
        // its events are no objects of their own while it runs (see PackedEvents), and there is
        // nothing to pack when it ends.
        if (r.packed === null && r.history.size > 0) pack(r, LOG_ROOM);
        if (r.packed !== null) {
          const fresh: BrokerEvent = { id, topics: held, event: init.event, data: init.data };
          if (appendPacked(r, fresh, time, bytes + r.bytes)) {
            enforceTotal();
            toFeeds(fresh);
            return fresh;
          }
        }
      }
      event = new Kept(id, held, init, bytes + r.bytes);
      keep(r, event, time);
    } else {
      const topicsHeld = held.map((topic) => historyOf(topic, time));
      for (const r of topicsHeld) bytes += r.bytes;
      event = new Kept(id, held, init, bytes);
      // A publish to more topics than maxTopics drops its own first ones: they keep nothing,
      // and a resume from before it on them is truncated, as for any topic dropped.
      for (const r of topicsHeld) {
        if (!r.dropped) keep(r, event, time);
        else if (compareStreamIds(id, globalFloor) > 0) globalFloor = id;
      }
    }
    if (Kept.held(event)) Kept.link(kept, event);
    // Kept one by one or appended to packed events (an `end` to a reply's log): it counts in all.
    enforceTotal();
    toFeeds(event);
    return event;
  };

  /** Hands a published event to every feed that follows one of its topics. */
  const toFeeds = (event: BrokerEvent): void => {
    for (const feed of feeds) {
      if (!follows(feed, event.topics)) continue;
      try {
        feed.listener.onEvent(event);
      } catch (error) {
        feed.listener.onError(new BrokerError('feed-failed', 'a feed listener threw', { cause: error }));
      }
    }
  };

  const broker: MemoryBroker = {
    publish: async (topics, init) => publishNow(topics, init).id,

    async history(topics, afterId, options = {}) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      const head = ids.last ?? ids.start;
      if (!isStreamId(afterId)) return { events: [], more: false, truncated: true, head };
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      const time = now();
      sweep(time);
      let truncated = false;
      const lists: BrokerEvent[][] = [];
      for (const topic of topics) {
        const r = current(topic, time);
        if (r === undefined) {
          if (compareStreamIds(afterId, globalFloor) < 0) truncated = true;
          continue;
        }
        const { history } = r;
        history.expire(time);
        if (r.packed !== null) expirePacked(r, time);
        if (history.isTruncatedAfter(afterId)) truncated = true;
        // One more than asked per list tells whether the merged page was cut.
        lists.push(
          r.packed !== null
            ? r.packed.after(afterId, limit + 1, compareStreamIds)
            : history.after(afterId, limit + 1),
        );
      }
      const merged = mergeById(lists, compareStreamIds, limit + 1);
      const more = merged.length > limit;
      const page = more ? merged.slice(0, limit) : merged;
      return { events: page, more, truncated, head };
    },

    subscribe(listener) {
      const feed: Feed = { listener, topics: new Set() };
      feeds.add(feed);
      return {
        async follow(topics) {
          for (const topic of topics) feed.topics.add(topic);
        },
        async unfollow(topics) {
          for (const topic of topics) feed.topics.delete(topic);
        },
        async close() {
          feeds.delete(feed);
        },
      };
    },

    compareIds: compareStreamIds,
    isValidId: isStreamId,
    topicLimits: { maxEvents: limits.maxEvents, maxBytes: limits.maxBytes },

    historyBytes: () => kept.bytes + packedBytes,

    async claim(name, value, ttl) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      checkNumber('ttl', ttl);
      const time = now();
      sweep(time);
      const held = claims.get(name);
      if (held !== undefined && held.until > time) return held.value;
      claims.delete(name);
      claims.set(name, { value, until: time + ttl });
      if (claims.size > maxClaims) claims.delete(claims.keys().next().value as string);
      return value;
    },

    async expire(topics, ttl) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      checkNumber('ttl', ttl, { min: 0 });
      const time = now();
      for (const topic of topics) {
        const r = histories.get(topic);
        if (r === undefined) continue;
        r.until = time + ttl;
        if (r.until <= time) drop(r);
        else {
          expiring.add(r);
          // It is to be forgotten: it is kept for reading (a finished reply's log), so packed,
          // with the text of its events joined (fewest objects while it is kept).
          pack(r);
          r.packed?.compact();
        }
      }
    },

    async close() {
      closed = true;
      feeds.clear();
      histories.clear();
      recency.clear();
      kept.first = null;
      kept.last = null;
      kept.bytes = 0;
      packs.clear();
      packedBytes = 0;
      expiring.clear();
      claims.clear();
    },
  };
  // Not enumerable and not in the type: for ssekit's own callers (see PUBLISH_NOW).
  const offered: PublishNow = { publish: broker.publish, now: publishNow };
  Object.defineProperty(broker, PUBLISH_NOW, { value: offered });
  return broker;
}

function follows(feed: Feed, topics: readonly string[]): boolean {
  for (const topic of topics) if (feed.topics.has(topic)) return true;
  return false;
}
