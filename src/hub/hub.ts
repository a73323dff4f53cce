/**
 * The hub: topics, encode-once fan-out, history with Last-Event-ID resume (WHATWG HTML §9.2.4:
 * a reconnecting EventSource sends the last id it saw as `Last-Event-ID`), slow-consumer policy,
 * authorization, limits, heartbeats, graceful shutdown and metrics.
 *
 * How an event travels: `publish` hands it to the broker, which assigns the id and delivers it
 * to this process's one feed. The hub encodes it once, appends the bytes to the pending batch of
 * every *group* that wants it (subscribers with the same topic set form a group: they receive the
 * very same byte stream), and at the end of the tick writes each group's batch, as one chunk, to
 * each member. Many events in a tick thus cost one write per subscriber, not one per event.
 */
import { encodeEvent, encodeEventBytes } from '../protocol/encode.js';
import { concatBytes, defaultHeartbeat } from '../server/event-stream.js';
import { SSE_HEADERS } from '../server/response.js';
import type { Authorize, AuthorizeResult } from './auth.js';
import { type Broker, type BrokerEvent, type BrokerFeed, createMemoryBroker } from './broker.js';
import { BrokerError, HubClosedError, HubError, HubInputError } from './errors.js';
import type { HistoryLimits } from './history.js';
import { type HubMetrics, toPrometheus } from './metrics.js';
import { type FrameCache, Outlet } from './outlet.js';

/** Limits of a hub. Every bound has a default; `Infinity` turns a count limit off. */
export interface HubLimits {
  /** Subscribers in this process. Past it: 503 with `Retry-After`. Default 50,000. */
  maxSubscribers?: number;
  /**
   * Subscribers per client address (as given by the adapter, see `SubscribeContext`). Past it:
   * 503 with `Retry-After`. Default `Infinity`: behind a proxy every client has its address.
   */
  maxSubscribersPerAddress?: number;
  /** Topics in one subscription, and in one publish. Past it: 400. Default 32. */
  maxTopics?: number;
  /** Characters in a topic name. Default 256. */
  maxTopicLength?: number;
  /** Bytes of a publish request body (`handler` POST). Past it: 413. Default 64 KiB. */
  maxPublishBytes?: number;
  /**
   * Bytes queued for one subscriber (the slow-consumer bound, replay included). Past it the
   * subscriber is disconnected with a retry hint and resumes from history. Default 1 MiB.
   */
  maxQueuedBytes?: number;
}

/** Reconnection hints (the `retry` field, WHATWG HTML §9.2.6) the hub sends when it ends a stream. */
export interface RetryHint {
  /** Base delay in ms. Default 1,000. */
  ms?: number;
  /** Up to this many ms of random delay are added per subscriber, so clients do not return together. Default 4,000. */
  jitterMs?: number;
}

/** Options of {@link createHub}. */
export interface HubOptions {
  /** Event store and bus. Default: a new in-memory broker with `history`. */
  broker?: Broker;
  /** History bounds of the default in-memory broker (ignored with `broker`). */
  history?: HistoryLimits;
  /** Decides who may subscribe and publish; see `jwtAuthorizer`. Default: everyone may. */
  authorize?: Authorize;
  limits?: HubLimits;
  /**
   * Milliseconds between heartbeat comments to every subscriber. `false` turns them off. Default
   * 10,000, and 5,000 under Bun (whose server cuts a connection after 10 s without a write).
   */
  heartbeatMs?: number | false;
  /** Retry hint sent when the hub ends a stream (shutdown, slow consumer, partial replay). */
  retry?: RetryHint;
  /** Seconds in `Retry-After` of 503 answers. Default 5. */
  retryAfterSeconds?: number;
  /** Extra headers on every stream response (CORS, for example). */
  headers?: HeadersInit;
  /**
   * A slow consumer is ended gracefully (its queue drains, then the retry hint); if it has not
   * taken that within this many ms, its connection is cut. Default 5,000.
   */
  slowConsumerGraceMs?: number;
  /** Events per history page while replaying. Default 500. */
  replayPageSize?: number;
  /** Where errors that have no caller to go to are reported (a failed feed). Default `console.error`. */
  onError?: (error: unknown) => void;
  /** Random numbers in [0, 1) for retry jitter (injectable for tests). Default `Math.random`. */
  random?: () => number;
}

/** Plain subscribe options, for server code that has already decided who may see what. */
export interface SubscribeOptions {
  topics: readonly string[];
  /** Resume after this id, as if the client had sent `Last-Event-ID`. */
  lastEventId?: string;
  /** When given, the `authorize` hook runs with it. Without it the call is trusted. */
  request?: Request;
  /** Counted against `maxSubscribersPerAddress`. */
  clientAddress?: string;
}

/** What the runtime adapter knows about a request that `Request` does not carry. */
export interface SubscribeContext {
  /** The peer's address, counted against `maxSubscribersPerAddress`. */
  clientAddress?: string;
}

/** A publish through {@link Hub.publish}: a string is shorthand for `{ data }`. */
export interface PublishEvent {
  /** SSE event type (no CR or LF). Default: none, which clients see as `message`. */
  event?: string;
  data: string;
}

/** Options of {@link Hub.close}. */
export interface CloseOptions {
  /** Wait at most this long (ms) for in-flight publishes before ending streams. Default 5,000. */
  timeoutMs?: number;
}

export interface Hub {
  /**
   * Publishes an event on one or several topics. Resolves with its id (one id, the same on every
   * topic) once the broker has it. Throws `HubInputError` for bad topics or event fields and
   * `HubClosedError` once `close()` has begun.
   */
  publish(topics: string | readonly string[], event: string | PublishEvent): Promise<string>;
  /**
   * Opens a subscription and returns the streaming `Response`. From a `Request`: topics from
   * repeated `topic` query parameters, resume point from `Last-Event-ID` or `lastEventId`; errors
   * are HTTP answers (400, 401, 403, 503). From options: trusted unless `request` is given.
   */
  subscribe(request: Request, context?: SubscribeContext): Promise<Response>;
  subscribe(options: SubscribeOptions): Promise<Response>;
  /**
   * One fetch-style handler: GET subscribes, POST publishes a JSON body
   * `{ "topic": "a" | ["a", "b"], "event"?: "type", "data": "..." }` and answers `{ "id": "..." }`.
   */
  handler(request: Request, context?: SubscribeContext): Promise<Response>;
  /** Counters of this process. */
  metrics(): HubMetrics;
  /** {@link Hub.metrics} as Prometheus text; `labels` are added to every sample. */
  prometheus(labels?: Record<string, string>): string;
  /**
   * Graceful shutdown: refuses new subscribers and publishes (503), lets in-flight publishes
   * finish and reach subscribers, then ends every stream with a `retry` hint of
   * `retry.ms + random * retry.jitterMs`, so clients come back spread out, not all at once.
   * Closes the broker only if the hub created it.
   */
  close(options?: CloseOptions): Promise<void>;
}

/** Response header telling how a `Last-Event-ID` was honoured: `replay` or `reset`. */
export const RESUME_HEADER = 'ssekit-resume';
/** Event type sent first when the Last-Event-ID is older than history: refetch your state. */
export const RESET_EVENT = 'reset';

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(':\n\n');
const OPEN: Uint8Array = encoder.encode(':\n\n');

interface Group {
  readonly key: string;
  readonly names: readonly string[];
  readonly topics: readonly Topic[];
  readonly subs: Subscriber[];
  chunks: Uint8Array[];
  bytes: number;
  events: number;
  stamp: number;
  dirty: boolean;
  /**
   * Id of the newest event the members have (`null`: none yet). A live event at or below it is a
   * duplicate and is dropped: the group's stream only moves forward.
   */
  lastId: string | null;
}

interface Topic {
  readonly name: string;
  readonly groups: Set<Group>;
  /**
   * Subscribers that resumed and are not in a group yet: replaying (live events are held until
   * the replay is written) or catching up (see `Subscriber.floor`).
   */
  readonly holding: Set<Subscriber>;
  refs: number;
  /** Settles once the broker feed follows this topic. */
  ready: Promise<void>;
}

interface Subscriber {
  /** The subscriber's byte stream: the record itself (it extends `Outlet`). */
  readonly outlet: Outlet;
  readonly topics: readonly string[];
  /** The hub's topic records this subscriber holds a reference on (same order as `topics`). */
  acquired: readonly Topic[];
  readonly key: string;
  readonly address: string | undefined;
  group: Group | null;
  index: number;
  held: BrokerEvent[] | null;
  heldBytes: number;
  heldOverflow: boolean;
  /**
   * Catching up: the id of the newest event written to this subscriber, while it waits outside
   * any group for the live feed to pass it. A broker's feed may lag behind its history (Redis:
   * the feed's XREAD and the history read run on different connections), so after a replay the
   * feed can still bring events the replay carried. Those are dropped; the first newer one is
   * written directly, and the subscriber joins its group at the next flush. `null` otherwise.
   */
  floor: string | null;
  /** Catching up and past its floor: joins its group at the next flush. */
  joining: boolean;
  stamp: number;
  released: boolean;
}

const DEFAULT_LIMITS = {
  maxSubscribers: 50_000,
  maxSubscribersPerAddress: Number.POSITIVE_INFINITY,
  maxTopics: 32,
  maxTopicLength: 256,
  maxPublishBytes: 64 * 1024,
  maxQueuedBytes: 1024 * 1024,
} satisfies Required<HubLimits>;

const NO_TOPICS: readonly Topic[] = [];
const INVALID_TOPIC = /[\u0000-\u001f\u007f]/;
const CR_OR_LF = /[\r\n]/;

// The end of the current macrotask where the runtime has it (Node, Bun): publishes made from
// one I/O callback or one chain of awaits then share a flush. A microtask elsewhere.
const scheduleFlush: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => queueMicrotask(fn);

/** The query of a URL, without parsing the rest of it (one per subscriber: it adds up). */
function queryOf(url: string): URLSearchParams {
  const start = url.indexOf('?');
  if (start === -1) return new URLSearchParams();
  const end = url.indexOf('#', start);
  return new URLSearchParams(end === -1 ? url.slice(start + 1) : url.slice(start + 1, end));
}

function isRequest(value: unknown): value is Request {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Request).url === 'string' &&
    typeof (value as Request).headers?.get === 'function' &&
    typeof (value as Request).method === 'string'
  );
}

function positiveLimit(name: string, value: number): number {
  if (typeof value !== 'number' || !(value > 0) || (Number.isFinite(value) && !Number.isSafeInteger(value))) {
    throw new RangeError(`${name} must be a positive integer or Infinity, got ${String(value)}`);
  }
  return value;
}

/**
 * Creates a hub.
 *
 * @example Mounted on Node with `ssekit/node`:
 * ```ts
 * import { createServer } from 'node:http';
 * import { createHub } from 'ssekit/hub';
 * import { createRequestListener } from 'ssekit/node';
 *
 * const hub = createHub({ history: { maxEvents: 1000 } });
 * // The hub learns of disconnects from the adapter: no per-request abort signal needed.
 * createServer(createRequestListener(hub.handler, { requestSignal: false })).listen(8080);
 * await hub.publish('news', { event: 'headline', data: JSON.stringify({ title: 'Hello' }) });
 * // GET /?topic=news  -> an event stream; reconnects resume from Last-Event-ID.
 * ```
 */
export function createHub(options: HubOptions = {}): Hub {
  const ownsBroker = options.broker === undefined;
  const broker = options.broker ?? createMemoryBroker({ history: options.history });
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) positiveLimit(name, value);
  const retryMs = options.retry?.ms ?? 1000;
  const jitterMs = options.retry?.jitterMs ?? 4000;
  if (!(retryMs >= 0) || !(jitterMs >= 0)) throw new RangeError('retry.ms and retry.jitterMs must be >= 0');
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const graceMs = positiveLimit('slowConsumerGraceMs', options.slowConsumerGraceMs ?? 5000);
  const pageSize = positiveLimit('replayPageSize', options.replayPageSize ?? 500);
  const random = options.random ?? Math.random;
  const onError = options.onError ?? ((error: unknown) => console.error('ssekit hub:', error));
  const authorize = options.authorize;
  const heartbeatMs = options.heartbeatMs ?? defaultHeartbeat();
  if (heartbeatMs !== false) positiveLimit('heartbeatMs', heartbeatMs);

  // A plain object, built once: each stream response copies it (cheaply) instead of a Headers.
  const streamHeaders: Record<string, string> = {};
  new Headers(options.headers).forEach((value, name) => {
    streamHeaders[name] = value;
  });
  Object.assign(streamHeaders, SSE_HEADERS);

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
  let closing = false;
  let closed: Promise<void> | undefined;
  let inflight = 0;
  let drained: (() => void) | null = null;
  // Encoded bytes of live events, so a replay of a recent event reuses them (in-memory broker:
  // history and feed hand out the same objects).
  const encoded = new WeakMap<BrokerEvent, Uint8Array>();

  const counters = {
    eventsPublished: 0,
    eventsDelivered: 0,
    bytesWritten: 0,
    slowConsumerDisconnects: 0,
    replays: 0,
    resets: 0,
    duplicatesDropped: 0,
  };
  const rejected: Record<string, number> = {};

  const bytesOf = (event: BrokerEvent): Uint8Array => {
    let bytes = encoded.get(event);
    if (bytes === undefined) {
      bytes = encodeEventBytes({ id: event.id, event: event.event, data: event.data });
      encoded.set(event, bytes);
    }
    return bytes;
  };

  // ---- the live path -------------------------------------------------------------------

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
            if (sub.heldBytes > limits.maxQueuedBytes) sub.heldOverflow = true;
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
            if (sub.outlet.queuedBytes > limits.maxQueuedBytes) {
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
    const cache: FrameCache = { fn: undefined, out: undefined };
    const max = limits.maxQueuedBytes;
    for (let i = n - 1; i >= 0; i--) {
      const sub = subs[i] as Subscriber;
      sub.outlet.write(chunk, cache);
      if (sub.outlet.queuedBytes > max) slow.push(sub);
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
        joinGroup(sub, floor);
      }
    }
  };

  const dropSlow = (sub: Subscriber): void => {
    if (sub.released) return;
    counters.slowConsumerDisconnects++;
    const outlet = sub.outlet;
    outlet.end(retryBytes(), true);
    release(sub);
    // A peer that reads nothing at all would hold its connection (and the bytes queued in the
    // transport) forever: cut it after the grace. A no-op once the response has finished.
    const timer = setTimeout(() => outlet.abort(new HubError('slow consumer cut off')), graceMs);
    (timer as { unref?: () => void }).unref?.();
  };

  const retryBytes = (): Uint8Array =>
    encoder.encode(encodeEvent({ retry: Math.round(retryMs + random() * jitterMs) }));

  // ---- topics, groups, subscribers --------------------------------------------------------

  const feed: BrokerFeed = broker.subscribe({
    onEvent,
    onError(error) {
      onError(error);
      // Events may have been lost: end every stream so clients resume from history.
      for (const sub of [...subscribers]) {
        sub.outlet.end(retryBytes());
        release(sub);
      }
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
      if (!closing) onError(error);
    });
  };

  /** `lastId`: the newest event id the subscriber has, if any (it seeds a new group's guard). */
  const joinGroup = (sub: Subscriber, lastId: string | null): void => {
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
    if (sub.address !== undefined) {
      const n = (perAddress.get(sub.address) ?? 1) - 1;
      if (n === 0) perAddress.delete(sub.address);
      else perAddress.set(sub.address, n);
    }
    for (const topic of sub.acquired) releaseTopic(topic);
    sub.acquired = NO_TOPICS;
  };

  // ---- HTTP answers --------------------------------------------------------------------------

  const refuse = (status: number, message: string, headers?: Record<string, string>): Response => {
    rejected[status] = (rejected[status] ?? 0) + 1;
    return new Response(`${message}\n`, {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    });
  };
  const unavailable = (message: string): Response => refuse(503, message, { 'retry-after': retryAfter });

  const verdict = (result: AuthorizeResult): Response | undefined => {
    if (result === true) return undefined;
    if (result === 'unauthenticated') return refuse(401, 'unauthorized', { 'www-authenticate': 'Bearer' });
    return refuse(403, 'forbidden');
  };

  const checkTopics = (list: readonly unknown[]): string[] => {
    if (list.length === 0) throw new HubInputError('no-topics', 'at least one topic is required');
    const unique = [...new Set(list)];
    if (unique.length > limits.maxTopics) {
      throw new HubInputError('too-many-topics', `at most ${limits.maxTopics} topics are allowed`);
    }
    for (const topic of unique) {
      if (typeof topic !== 'string' || topic === '' || topic.length > limits.maxTopicLength) {
        throw new HubInputError(
          'invalid-topic',
          `a topic must be a non-empty string of at most ${limits.maxTopicLength} characters`,
        );
      }
      if (INVALID_TOPIC.test(topic))
        throw new HubInputError('invalid-topic', 'a topic must not contain control characters');
    }
    return unique as string[];
  };

  const capacityProblem = (address: string | undefined): string | undefined => {
    if (subscribers.size >= limits.maxSubscribers) return 'too many subscribers';
    if (address !== undefined && (perAddress.get(address) ?? 0) >= limits.maxSubscribersPerAddress) {
      return 'too many subscribers from this address';
    }
    return undefined;
  };

  // ---- subscribe -----------------------------------------------------------------------------

  async function subscribe(input: Request | SubscribeOptions, context?: SubscribeContext): Promise<Response> {
    let request: Request | undefined;
    let rawTopics: readonly unknown[];
    let lastEventId: string | undefined;
    let address: string | undefined;
    if (isRequest(input)) {
      request = input;
      const query = queryOf(request.url);
      rawTopics = query.getAll('topic');
      lastEventId = request.headers.get('last-event-id') ?? query.get('lastEventId') ?? undefined;
      address = context?.clientAddress;
    } else {
      request = input.request;
      rawTopics = input.topics;
      lastEventId = input.lastEventId;
      address = input.clientAddress;
    }
    if (closing) return unavailable('shutting down');
    let wanted: string[];
    try {
      wanted = checkTopics(rawTopics);
    } catch (error) {
      if (!isRequest(input)) throw error;
      return refuse(400, (error as Error).message);
    }
    const full = capacityProblem(address);
    if (full !== undefined) return unavailable(full);
    if (authorize !== undefined && request !== undefined) {
      const refused = verdict(await authorize({ request, action: 'subscribe', topics: wanted }));
      if (refused !== undefined) return refused;
      if (closing) return unavailable('shutting down');
      const stillFull = capacityProblem(address);
      if (stillFull !== undefined) return unavailable(stillFull);
    }

    // Reserve the slot now: everything below may wait, and others must count this one.
    let sorted = wanted.sort();
    const key = sorted.join('\n');
    // Subscribers of one topic set share its arrays (memory per idle subscriber matters).
    const existing = groups.get(key);
    if (existing !== undefined) sorted = existing.names as string[];
    const sub = new HubSubscriber(sorted, key, address, lastEventId === undefined ? null : []);
    subscribers.add(sub);
    if (address !== undefined) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    let acquired = sorted.map(acquireTopic);
    if (existing !== undefined && acquired.every((t, i) => t === existing.topics[i])) {
      acquired = existing.topics as Topic[];
    }
    sub.acquired = acquired;
    if (sub.held !== null) for (const topic of acquired) topic.holding.add(sub);

    let headers = streamHeaders;
    try {
      // The feed must follow every topic before history is read: events after that point are
      // sure to arrive live, events before it are in history. That is the seam closed.
      await Promise.all(acquired.map((t) => t.ready));
      let first: Uint8Array[] = [OPEN];
      let firstBytes = OPEN.byteLength;
      let endAfter = false;
      if (lastEventId !== undefined) {
        const replay = await readReplay(sub, lastEventId);
        headers = { ...streamHeaders, [RESUME_HEADER]: replay.reset ? 'reset' : 'replay' };
        first = first.concat(replay.chunks);
        firstBytes += replay.bytes;
        endAfter = replay.partial;
        let last = replay.lastId;
        // Live events held during the replay, minus those the replay already had. Not after a
        // partial replay: they would follow it with a gap (the client resumes from its end).
        const held = endAfter ? [] : (sub.held ?? []);
        for (const event of held) {
          if (broker.compareIds(event.id, last) <= 0) continue;
          const bytes = bytesOf(event);
          first.push(bytes);
          firstBytes += bytes.byteLength;
          counters.eventsDelivered++;
          last = event.id;
        }
        if (sub.heldOverflow) endAfter = true;
        sub.held = null;
        // Catching up (see `Subscriber.floor`): the subscriber stays in `holding` until the feed
        // passes `last`.
        if (endAfter) for (const topic of acquired) topic.holding.delete(sub);
        else sub.floor = last;
      }
      if (sub.released || closing) {
        release(sub);
        return unavailable('shutting down');
      }
      counters.bytesWritten += firstBytes;
      if (endAfter) {
        // The client is too far behind for one go: it gets what fits, then reconnects from there.
        sub.outlet.write(concatBytes(first, firstBytes));
        sub.outlet.end(retryBytes());
        release(sub);
      } else if (sub.floor !== null) {
        catchingUp.add(sub);
        sub.outlet.write(concatBytes(first, firstBytes));
      } else {
        joinGroup(sub, null);
        sub.outlet.write(concatBytes(first, firstBytes));
      }
    } catch (error) {
      release(sub);
      onError(error);
      return unavailable('the event store is unavailable');
    }
    return new Response(sub.outlet.stream, { status: 200, headers });
  }

  interface Replay {
    chunks: Uint8Array[];
    bytes: number;
    lastId: string;
    reset: boolean;
    partial: boolean;
  }

  const readReplay = async (sub: Subscriber, lastEventId: string): Promise<Replay> => {
    const replay: Replay = { chunks: [], bytes: 0, lastId: lastEventId, reset: false, partial: false };
    const budget = limits.maxQueuedBytes;
    let after = lastEventId;
    for (let page = 0; ; page++) {
      const result = await broker.history(sub.topics, after, { limit: pageSize });
      if (result.truncated) {
        if (page > 0) {
          // History was trimmed under our feet: stop here, the client resumes (and resets) later.
          replay.partial = true;
          break;
        }
        counters.resets++;
        const reset = encoder.encode(
          encodeEvent({
            id: result.head,
            event: RESET_EVENT,
            data: JSON.stringify({ reason: 'history-truncated', lastEventId }),
          }),
        );
        replay.chunks.push(reset);
        replay.bytes += reset.byteLength;
        replay.lastId = result.head;
        replay.reset = true;
        return replay;
      }
      for (const event of result.events) {
        const bytes = bytesOf(event);
        if (replay.bytes + bytes.byteLength > budget) {
          replay.partial = true;
          break;
        }
        replay.chunks.push(bytes);
        replay.bytes += bytes.byteLength;
        replay.lastId = event.id;
        counters.eventsDelivered++;
      }
      if (replay.partial || !result.more || result.events.length === 0) break;
      after = replay.lastId;
    }
    counters.replays++;
    return replay;
  };

  // ---- publish -------------------------------------------------------------------------------

  const publish = async (
    target: string | readonly string[],
    event: string | PublishEvent,
  ): Promise<string> => {
    if (closing) throw new HubClosedError('the hub is closing');
    const list = checkTopics(typeof target === 'string' ? [target] : target);
    const init = typeof event === 'string' ? { data: event } : event;
    if (typeof init !== 'object' || init === null || typeof init.data !== 'string') {
      throw new HubInputError('invalid-event', 'data must be a string');
    }
    if (init.event !== undefined && (typeof init.event !== 'string' || CR_OR_LF.test(init.event))) {
      throw new HubInputError('invalid-event', 'event must be a string without CR or LF');
    }
    inflight++;
    try {
      const id = await broker.publish(list, { event: init.event, data: init.data });
      counters.eventsPublished++;
      return id;
    } finally {
      if (--inflight === 0 && drained !== null) drained();
    }
  };

  const readBody = async (request: Request): Promise<string | Response> => {
    const max = limits.maxPublishBytes;
    const length = request.headers.get('content-length');
    if (length !== null && Number(length) > max) return refuse(413, 'publish body too large');
    if (request.body === null) return '';
    const reader = request.body.getReader();
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel();
        return refuse(413, 'publish body too large');
      }
      parts.push(value);
    }
    return new TextDecoder('utf-8', { fatal: true }).decode(concatBytes(parts, total));
  };

  const handlePublish = async (request: Request): Promise<Response> => {
    if (closing) return unavailable('shutting down');
    let text: string | Response;
    try {
      text = await readBody(request);
    } catch {
      return refuse(400, 'unreadable body (not UTF-8, or the client went away)');
    }
    if (typeof text !== 'string') return text;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return refuse(400, 'the body must be JSON: { "topic": ..., "data": "..." }');
    }
    if (typeof body !== 'object' || body === null) return refuse(400, 'the body must be a JSON object');
    const { topic, event, data } = body as { topic?: unknown; event?: unknown; data?: unknown };
    let list: string[];
    try {
      list = checkTopics(typeof topic === 'string' ? [topic] : Array.isArray(topic) ? topic : []);
      if (typeof data !== 'string') throw new HubInputError('invalid-event', 'data must be a string');
      if (event !== undefined && (typeof event !== 'string' || CR_OR_LF.test(event))) {
        throw new HubInputError('invalid-event', 'event must be a string without CR or LF');
      }
    } catch (error) {
      return refuse(400, (error as Error).message);
    }
    if (authorize !== undefined) {
      const refused = verdict(await authorize({ request, action: 'publish', topics: list }));
      if (refused !== undefined) return refused;
    }
    try {
      const id = await publish(list, event === undefined ? { data } : { event: event as string, data });
      return Response.json({ id });
    } catch (error) {
      if ((error as Error)?.name === 'HubClosedError') return unavailable('shutting down');
      onError(error);
      return unavailable('the event store is unavailable');
    }
  };

  // ---- heartbeats, shutdown --------------------------------------------------------------------

  const heartbeat =
    heartbeatMs === false
      ? undefined
      : setInterval(() => {
          const slow: Subscriber[] = [];
          for (const group of groups.values()) {
            const cache: FrameCache = { fn: undefined, out: undefined };
            for (const sub of group.subs) {
              sub.outlet.write(HEARTBEAT, cache);
              if (sub.outlet.queuedBytes > limits.maxQueuedBytes) slow.push(sub);
            }
          }
          for (const sub of catchingUp) {
            sub.outlet.write(HEARTBEAT);
            if (sub.outlet.queuedBytes > limits.maxQueuedBytes) slow.push(sub);
          }
          for (const sub of slow) dropSlow(sub);
        }, heartbeatMs);
  (heartbeat as { unref?: () => void } | undefined)?.unref?.();

  const shutdown = async (timeoutMs: number): Promise<void> => {
    closing = true;
    if (inflight > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          drained = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    if (heartbeat !== undefined) clearInterval(heartbeat);
    flush();
    for (const sub of [...subscribers]) {
      sub.outlet.end(retryBytes());
      release(sub);
    }
    await feed.close();
    if (ownsBroker) await broker.close();
  };

  const hub: Hub = {
    publish,
    subscribe: subscribe as Hub['subscribe'],
    async handler(request, context) {
      if (request.method === 'GET') return subscribe(request, context);
      if (request.method === 'POST') return handlePublish(request);
      rejected[405] = (rejected[405] ?? 0) + 1;
      return new Response('method not allowed\n', {
        status: 405,
        headers: { allow: 'GET, POST', 'content-type': 'text/plain; charset=utf-8' },
      });
    },
    metrics() {
      let queuedBytes = 0;
      for (const sub of subscribers) queuedBytes += sub.outlet.queuedBytes;
      return {
        subscribers: subscribers.size,
        topics: topics.size,
        queuedBytes,
        ...counters,
        rejected: { ...rejected },
      };
    },
    prometheus(labels) {
      return toPrometheus(hub.metrics(), labels);
    },
    close(closeOptions = {}) {
      closed ??= shutdown(closeOptions.timeoutMs ?? 5000);
      return closed;
    },
  };
  return hub;
}
