/**
 * Fan-out: topics, groups, encode-once batches, flush and slow consumers. No HTTP in here: the
 * hub's HTTP side (http.ts) and its replay (replay.ts) hand it subscribers, and it moves bytes.
 *
 * How an event travels: the broker delivers it to this process's one feed (`onEvent`). It is
 * encoded once, its bytes are appended to the pending batch of every *group* that wants it
 * (subscribers with the same topic set form a group: they receive the very same byte stream),
 * and at the end of the tick each group's batch is written, as one chunk, to each member. Many
 * events in a tick thus cost one write per subscriber, not one per event.
 */
import { encodeEventBytes } from '../protocol/encode.js';
import { concatBytes } from '../server/event-stream.js';
import type { Broker, BrokerEvent, BrokerFeed } from './broker.js';
import { BrokerError, HubError } from './errors.js';
import { type FrameCache, Outlet } from './outlet.js';
import type { Group, HubCounters, Subscriber, Topic } from './records.js';

export type { Group, HubCounters, Subscriber, Topic } from './records.js';

export interface FanoutOptions {
  readonly broker: Broker;
  /** The slow-consumer bound, in bytes queued for one subscriber. */
  readonly maxQueuedBytes: number;
  /** After a slow consumer was ended, its connection is cut if still open after this many ms. */
  readonly grace: number;
  /** The retry hint that ends a stream the hub closes (a fresh random share of the spread each call). */
  readonly retryBytes: () => Uint8Array;
  readonly counters: HubCounters;
  readonly onError: (error: unknown) => void;
  /** True once the hub is shutting down (an unfollow failing then is not reported). */
  readonly closing: () => boolean;
}

const NO_TOPICS: readonly Topic[] = [];

// The end of the current macrotask where the runtime has it (Node, Bun): publishes made from
// one I/O callback or one chain of awaits then share a flush. A microtask elsewhere.
const scheduleFlush: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => queueMicrotask(fn);

/**
 * The wire bytes of a broker event, encoded once however many subscribers, groups and replays
 * take it: kept per event object, so a replay of a recent event reuses them (the in-memory broker
 * hands history and feed the same objects) and they go when the event does.
 */
export function eventBytes(): (event: BrokerEvent) => Uint8Array {
  const encoded = new WeakMap<BrokerEvent, Uint8Array>();
  return (event) => {
    let bytes = encoded.get(event);
    if (bytes === undefined) {
      bytes = encodeEventBytes({ id: event.id, event: event.event, data: event.data });
      encoded.set(event, bytes);
    }
    return bytes;
  };
}

/** The fan-out state of one hub. */
export type Fanout = ReturnType<typeof createFanout>;

export function createFanout(options: FanoutOptions) {
  const { broker, maxQueuedBytes, grace, retryBytes, counters, onError } = options;
  const topics = new Map<string, Topic>();
  const groups = new Map<string, Group>();
  const subscribers = new Set<Subscriber>();
  const perAddress = new Map<string, number>();
  let dirty: Group[] = [];
  // Subscribers catching up that passed their floor: they join their groups at the next flush.
  let joining: Subscriber[] = [];
  // Subscribers catching up (outside any group), for heartbeats.
  const catchingUp = new Set<Subscriber>();
  let flushScheduled = false;
  let stamp = 0;
  const bytesOf = eventBytes();

  const onEvent = (event: BrokerEvent): void => {
    let bytes: Uint8Array | undefined;
    let slow: Subscriber[] | undefined;
    const s = ++stamp;
    for (const name of event.topics) {
      const topic = topics.get(name);
      if (topic === undefined) continue;
      for (const group of topic.groups) {
        if (group.stamp === s) continue; // already has it through another of its topics
        group.stamp = s;
        if (group.lastId !== null && broker.compareIds(event.id, group.lastId) <= 0) {
          // A broker that breaks its in-order, once-only promise: never resend, never go back.
          counters.duplicatesDropped += group.subs.length;
          continue;
        }
        group.lastId = event.id;
        bytes ??= bytesOf(event);
        group.chunks.push(bytes);
        group.bytes += bytes.byteLength;
        group.events++;
        if (!group.dirty) {
          group.dirty = true;
          dirty.push(group);
        }
      }
      if (topic.holding.size > 0) {
        for (const sub of topic.holding) {
          if (sub.stamp === s) continue;
          sub.stamp = s;
          if (sub.held !== null) {
            if (sub.heldOverflow) continue;
            bytes ??= bytesOf(event);
            sub.heldBytes += bytes.byteLength;
            if (sub.heldBytes > maxQueuedBytes) sub.heldOverflow = true;
            else sub.held.push(event);
          } else if (sub.floor !== null) {
            if (broker.compareIds(event.id, sub.floor) <= 0) {
              // The lagging feed brings what the replay already carried.
              counters.duplicatesDropped++;
              continue;
            }
            bytes ??= bytesOf(event);
            sub.floor = event.id;
            sub.outlet.write(bytes);
            counters.eventsDelivered++;
            counters.bytesWritten += bytes.byteLength;
            if (sub.outlet.queuedBytes > maxQueuedBytes) {
              (slow ??= []).push(sub);
            } else if (!sub.joining) {
              sub.joining = true;
              joining.push(sub);
            }
          }
        }
      }
    }
    if (slow !== undefined) for (const sub of slow) dropSlow(sub);
    if (!flushScheduled && (dirty.length > 0 || joining.length > 0)) {
      flushScheduled = true;
      scheduleFlush(flush);
    }
  };

  const flushGroup = (group: Group, slow: Subscriber[]): void => {
    const chunk = concatBytes(group.chunks, group.bytes);
    const events = group.events;
    group.chunks = [];
    group.bytes = 0;
    group.events = 0;
    group.dirty = false;
    const subs = group.subs;
    const n = subs.length;
    if (n === 0) return;
    // Every member gets the same chunk, and (with a transport that frames) the same framed bytes.
    const cache: FrameCache = { fn: undefined, out: undefined };
    for (let i = n - 1; i >= 0; i--) {
      const sub = subs[i] as Subscriber;
      sub.outlet.write(chunk, cache);
      if (sub.outlet.queuedBytes > maxQueuedBytes) slow.push(sub);
    }
    counters.eventsDelivered += events * n;
    counters.bytesWritten += chunk.byteLength * n;
  };

  const flush = (): void => {
    flushScheduled = false;
    const list = dirty;
    dirty = [];
    const slow: Subscriber[] = [];
    for (const group of list) if (group.dirty) flushGroup(group, slow);
    for (const sub of slow) dropSlow(sub);
    if (joining.length > 0) {
      // Caught-up subscribers join their groups now that every batch pending this tick (which
      // holds events they got directly) has gone out: nothing reaches them twice.
      const ready = joining;
      joining = [];
      for (const sub of ready) {
        sub.joining = false;
        if (sub.released || sub.floor === null) continue;
        for (const topic of sub.acquired) topic.holding.delete(sub);
        catchingUp.delete(sub);
        const floor = sub.floor;
        sub.floor = null;
        join(sub, floor);
      }
    }
  };

  /** Ends a stream the hub closes on purpose: what is queued, then a retry hint. */
  const end = (sub: Subscriber, final: Uint8Array = retryBytes()): void => {
    sub.outlet.end(final);
    release(sub);
  };

  const dropSlow = (sub: Subscriber): void => {
    if (sub.released) return;
    counters.slowConsumerDisconnects++;
    const outlet = sub.outlet;
    outlet.end(retryBytes(), true);
    release(sub);
    // A peer that reads nothing at all would hold its connection (and the bytes queued in the
    // transport) forever: cut it after the grace. A no-op once the response has finished.
    const timer = setTimeout(() => outlet.abort(new HubError('slow consumer cut off')), grace);
    (timer as { unref?: () => void }).unref?.();
  };

  const feed: BrokerFeed = broker.subscribe({
    onEvent,
    onError(error) {
      onError(error);
      // Events may have been lost: end every stream so clients resume from history. The batch
      // pending for this tick goes out first: those events did arrive, and a client that has
      // them resumes after them (and needs no history for them).
      if (flushScheduled) flush();
      for (const sub of [...subscribers]) end(sub);
    },
  });

  const acquireTopic = (name: string): Topic => {
    let topic = topics.get(name);
    if (topic === undefined) {
      const created: Topic = {
        name,
        groups: new Set(),
        holding: new Set(),
        refs: 0,
        ready: Promise.resolve(),
      };
      created.ready = feed.follow([name]).catch((error: unknown) => {
        // Forget it, so the next subscriber asks the feed again; the waiting ones get the error.
        if (topics.get(name) === created) topics.delete(name);
        throw new BrokerError('feed-failed', `the broker feed could not follow ${name}`, { cause: error });
      });
      // Whoever awaits `ready` gets the error; this only keeps it from counting as unhandled.
      created.ready.catch(() => {});
      topics.set(name, created);
      topic = created;
    }
    topic.refs++;
    return topic;
  };

  const releaseTopic = (topic: Topic): void => {
    if (--topic.refs > 0) return;
    if (topics.get(topic.name) !== topic) return;
    topics.delete(topic.name);
    // During shutdown the broker may close under a pending unfollow: nothing to report then.
    feed.unfollow([topic.name]).catch((error: unknown) => {
      if (!options.closing()) onError(error);
    });
  };

  /**
   * Puts a subscriber in its group: from now on it gets the group's batches. `lastId`: the
   * newest event id the subscriber has, if any (it seeds a new group's guard).
   */
  const join = (sub: Subscriber, lastId: string | null): void => {
    let group = groups.get(sub.key);
    if (group === undefined) {
      group = {
        key: sub.key,
        names: sub.topics,
        topics: sub.acquired,
        subs: [],
        chunks: [],
        bytes: 0,
        events: 0,
        stamp: 0,
        dirty: false,
        lastId,
      };
      groups.set(sub.key, group);
      for (const topic of sub.acquired) topic.groups.add(group);
    } else if (group.chunks.length > 0) {
      // The batch pending for this tick predates the newcomer: send it to the members first.
      const slow: Subscriber[] = [];
      flushGroup(group, slow);
      for (const s of slow) dropSlow(s);
    }
    sub.group = group;
    sub.index = group.subs.length;
    group.subs.push(sub);
  };

  const leaveGroup = (sub: Subscriber): void => {
    const group = sub.group;
    if (group === null) return;
    sub.group = null;
    const subs = group.subs;
    const last = subs.pop() as Subscriber;
    if (last !== sub) {
      subs[sub.index] = last;
      last.index = sub.index;
    }
    if (subs.length === 0) {
      groups.delete(group.key);
      for (const topic of group.topics) topic.groups.delete(group);
    }
  };

  /** A subscriber and its outlet in one object: idle subscribers are many, each object counts. */
  class HubSubscriber extends Outlet implements Subscriber {
    readonly topics: readonly string[];
    acquired: readonly Topic[] = NO_TOPICS;
    readonly key: string;
    readonly address: string | undefined;
    group: Group | null = null;
    index = -1;
    held: BrokerEvent[] | null;
    heldBytes = 0;
    heldOverflow = false;
    floor: string | null = null;
    joining = false;
    stamp = 0;
    released = false;
    expiry: ReturnType<typeof setTimeout> | undefined = undefined;

    constructor(
      topics: readonly string[],
      key: string,
      address: string | undefined,
      held: BrokerEvent[] | null,
    ) {
      super();
      this.topics = topics;
      this.key = key;
      this.address = address;
      this.held = held;
    }

    get outlet(): Outlet {
      return this;
    }

    protected override onCancel(): void {
      release(this);
    }
  }

  /**
   * Registers a subscriber to `names` (unique) and takes a reference on each topic, so the feed
   * follows it. A resuming one (`resuming`) holds the live events of its topics until its replay
   * is written. Counted at once: everything after this may wait, and others must count it.
   */
  const add = (names: readonly string[], address: string | undefined, resuming: boolean): Subscriber => {
    let sorted = [...names].sort();
    const key = sorted.join('\n');
    // Subscribers of one topic set share its arrays (memory per idle subscriber matters).
    const existing = groups.get(key);
    if (existing !== undefined) sorted = existing.names as string[];
    const sub = new HubSubscriber(sorted, key, address, resuming ? [] : null);
    subscribers.add(sub);
    if (address !== undefined) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    let acquired = sorted.map(acquireTopic);
    if (existing !== undefined && acquired.every((t, i) => t === existing.topics[i])) {
      acquired = existing.topics as Topic[];
    }
    sub.acquired = acquired;
    if (resuming) for (const topic of acquired) topic.holding.add(sub);
    return sub;
  };

  /** After its replay: the subscriber waits outside its group until the feed passes `last`. */
  const catchUp = (sub: Subscriber, last: string): void => {
    sub.floor = last;
    catchingUp.add(sub);
  };

  /** Stops holding live events for a subscriber that will not join (its stream is ending). */
  const unhold = (sub: Subscriber): void => {
    for (const topic of sub.acquired) topic.holding.delete(sub);
  };

  /** Frees everything a subscriber holds. Idempotent. The outlet is ended by the caller. */
  const release = (sub: Subscriber): void => {
    if (sub.released) return;
    sub.released = true;
    subscribers.delete(sub);
    leaveGroup(sub);
    for (const topic of sub.acquired) topic.holding.delete(sub);
    catchingUp.delete(sub);
    sub.held = null;
    sub.floor = null;
    if (sub.expiry !== undefined) clearTimeout(sub.expiry);
    if (sub.address !== undefined) {
      const n = (perAddress.get(sub.address) ?? 1) - 1;
      if (n === 0) perAddress.delete(sub.address);
      else perAddress.set(sub.address, n);
    }
    for (const topic of sub.acquired) releaseTopic(topic);
    sub.acquired = NO_TOPICS;
  };

  /** Writes a comment to every subscriber (keeps proxies from timing idle streams out). */
  const heartbeat = (bytes: Uint8Array): void => {
    const slow: Subscriber[] = [];
    for (const group of groups.values()) {
      const cache: FrameCache = { fn: undefined, out: undefined };
      for (const sub of group.subs) {
        sub.outlet.write(bytes, cache);
        if (sub.outlet.queuedBytes > maxQueuedBytes) slow.push(sub);
      }
    }
    for (const sub of catchingUp) {
      sub.outlet.write(bytes);
      if (sub.outlet.queuedBytes > maxQueuedBytes) slow.push(sub);
    }
    for (const sub of slow) dropSlow(sub);
  };

  return {
    subscribers: subscribers as ReadonlySet<Subscriber>,
    bytesOf,
    add,
    join,
    catchUp,
    unhold,
    release,
    end,
    flush,
    heartbeat,
    /** Subscribers counted against an address. */
    countOf: (address: string): number => perAddress.get(address) ?? 0,
    get topicCount(): number {
      return topics.size;
    },
    /** Ends every stream with a retry hint (shutdown). */
    endAll(): void {
      flush();
      for (const sub of [...subscribers]) end(sub);
    },
    closeFeed: (): Promise<void> => feed.close(),
  };
}
