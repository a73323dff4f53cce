/**
 * The hub: topics, encode-once fan-out, history with Last-Event-ID resume, slow-consumer policy,
 * authorization, limits, heartbeats, graceful shutdown and metrics.
 *
 * This file wires the parts and owns the lifecycle: options, publish, heartbeats, shutdown and
 * metrics. The parts: fanout.ts (topics, groups, batches, slow consumers), replay.ts (history
 * pages, the seam between replay and live), http.ts (the handler, request parsing, errors as
 * answers), rules.ts (what a topic and an event may be).
 */
import { EMPTY_COMMENT, encodeEvent } from '../protocol/encode.js';
import { defaultHeartbeat } from '../server/event-stream.js';
import { checkNumber } from '../server/options.js';
import type { Authorize } from './auth.js';
import { type Broker, createMemoryBroker } from './broker.js';
import { HubClosedError } from './errors.js';
import { createFanout, type HubCounters } from './fanout.js';
import type { HistoryLimits } from './history.js';
import { createHttp, type PublishEvent, type SubscribeContext, type SubscribeOptions } from './http.js';
import { type HubMetrics, toPrometheus } from './metrics.js';
import { createReplay } from './replay.js';
import { checkEvent, checkTopics } from './rules.js';

export type { PublishEvent, SubscribeContext, SubscribeOptions } from './http.js';
export { RESET_EVENT, RESUME_HEADER, type ResetReason } from './replay.js';

/** Limits of a hub. Every bound has a default; `Infinity` turns a count limit off. */
export interface HubLimits {
  /**
   * Subscribers in this process. Past it: 503 with `Retry-After`. Default 10,000. Each holds a
   * connection, so keep it under the process's open-files limit with room to spare; on Node,
   * `subscriberCapacity()` from `ssekit/node` derives it from that limit.
   */
  maxSubscribers?: number;
  /**
   * Subscribers per client address (as given by the adapter, see `SubscribeContext`). Past it:
   * 503 with `Retry-After`. Default 1,000: one peer cannot take every slot. Behind a reverse
   * proxy every client has the proxy's address: raise it (or `Infinity`), or have the adapter
   * pass the forwarded address.
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

/**
 * How long the hub asks clients to wait before reconnecting when it ends a stream: it writes
 * `delay + random * spread` as the `retry` field (WHATWG HTML §9.2.6), per subscriber.
 */
export interface ReconnectHint {
  /** Base delay in ms. Default 1,000. */
  delay?: number;
  /**
   * Width in ms of the window the hint is drawn from: up to this many ms are added at random per
   * subscriber, so clients do not return together. Default 4,000. (Not the client's
   * `reconnect.jitter`, which is a share of its backoff, not ms.)
   */
  spread?: number;
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
  heartbeat?: number | false;
  /**
   * The reconnection delay the hub asks for (the `retry` field) when it ends a stream: shutdown,
   * slow consumer, partial replay.
   */
  reconnectHint?: ReconnectHint;
  /**
   * How long a `503` asks the client to wait, ms: sent as `Retry-After` in whole seconds, rounded
   * up. Default 5,000.
   */
  retryAfter?: number;
  /**
   * Extra headers on every stream response (CORS, for example). A header set here replaces the
   * default of the same name; several `Set-Cookie` values stay apart.
   */
  headers?: RequestInit['headers'];
  /**
   * `Host` names the handler answers (DNS rebinding: a page on an attacker's name that resolves
   * to your address must not reach the hub). Entries are host names, case-insensitive, any
   * port; `.example.com` allows that domain and its subdomains; `'*'` allows any. Others get 403.
   * Default: any host (the hub does not know where it listens; `ssekit serve` on a loopback
   * address allows loopback names only).
   */
  allowedHosts?: readonly string[];
  /**
   * Origins (`https://app.example.com`) besides the hub's own that may publish with cookies. A
   * publish that carries a cookie (and no `Authorization`) from any other origin gets 403: a
   * cookie rides along on a cross-site request, a token does not. Default: none.
   */
  allowedOrigins?: readonly string[];
  /**
   * A slow consumer is ended gracefully: what it has queued in the hub is dropped (it resumes
   * from history), what the transport already holds drains, then the retry hint. If it has not
   * taken that within this many ms, its connection is cut. Default 5,000.
   */
  slowConsumerGrace?: number;
  /** Events per history page while replaying. Default 500. */
  replayPageSize?: number;
  /** Where errors that have no caller to go to are reported (a failed feed). Default `console.error`. */
  onError?: (error: unknown) => void;
  /** Random numbers in [0, 1) for `reconnectHint.spread` (injectable for tests). Default `Math.random`. */
  random?: () => number;
}

/** Options of {@link Hub.close}. */
export interface CloseOptions {
  /** Wait at most this long (ms) for in-flight publishes before ending streams. Default 5,000. */
  timeout?: number;
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
   * repeated `topic` query parameters, resume point from `Last-Event-ID` or `lastEventId`. From
   * options: trusted unless `request` is given. Either way, every refusal is an HTTP answer
   * (400, 401, 403, 503), never a thrown error.
   */
  subscribe(request: Request, context?: SubscribeContext): Promise<Response>;
  subscribe(options: SubscribeOptions): Promise<Response>;
  /**
   * One fetch-style handler: GET subscribes (HEAD answers its headers), POST publishes an
   * `application/json` body `{ "topic": "a" | ["a", "b"], "event"?: "type", "data": "..." }`
   * and answers `{ "id": "..." }`. Other methods: 405.
   */
  handler(request: Request, context?: SubscribeContext): Promise<Response>;
  /** Counters of this process. */
  metrics(): HubMetrics;
  /** {@link Hub.metrics} as Prometheus text; `labels` are added to every sample. */
  prometheus(labels?: Record<string, string>): string;
  /**
   * Graceful shutdown: refuses new subscribers and publishes (503), lets in-flight publishes
   * finish and reach subscribers, then ends every stream with a `retry` hint of
   * `reconnectHint.delay + random * reconnectHint.spread`, so clients come back spread out, not
   * all at once.
   * Closes the broker only if the hub created it.
   */
  close(options?: CloseOptions): Promise<void>;
}

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(EMPTY_COMMENT);

const DEFAULT_LIMITS = {
  maxSubscribers: 10_000,
  maxSubscribersPerAddress: 1_000,
  maxTopics: 32,
  maxTopicLength: 256,
  maxPublishBytes: 64 * 1024,
  maxQueuedBytes: 1024 * 1024,
} satisfies Required<HubLimits>;

const positiveLimit = (name: string, value: number): number => checkNumber(name, value, { unbounded: true });

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
  const delay = checkNumber('reconnectHint.delay', options.reconnectHint?.delay ?? 1000, { min: 0 });
  const spread = checkNumber('reconnectHint.spread', options.reconnectHint?.spread ?? 4000, { min: 0 });
  const retryAfter = checkNumber('retryAfter', options.retryAfter ?? 5000, { min: 0 });
  // Durations are timers: no Infinity (setTimeout would take it as 1 ms).
  const grace = checkNumber('slowConsumerGrace', options.slowConsumerGrace ?? 5000);
  const pageSize = positiveLimit('replayPageSize', options.replayPageSize ?? 500);
  const random = options.random ?? Math.random;
  const onError = options.onError ?? ((error: unknown) => console.error('ssekit hub:', error));
  const heartbeat = options.heartbeat ?? defaultHeartbeat();
  if (heartbeat !== false) checkNumber('heartbeat', heartbeat);

  let closing = false;
  let closed: Promise<void> | undefined;
  let inflight = 0;
  let drained: (() => void) | null = null;

  const counters: HubCounters = {
    eventsPublished: 0,
    eventsDelivered: 0,
    bytesWritten: 0,
    slowConsumerDisconnects: 0,
    replays: 0,
    resets: 0,
    duplicatesDropped: 0,
    tokenExpiries: 0,
  };
  const rejected: Record<string, number> = {};
  const isClosing = (): boolean => closing;

  const retryBytes = (): Uint8Array =>
    encoder.encode(encodeEvent({ retry: Math.round(delay + random() * spread) }));

  const fanout = createFanout({
    broker,
    maxQueuedBytes: limits.maxQueuedBytes,
    grace,
    retryBytes,
    counters,
    onError,
    closing: isClosing,
  });
  const replay = createReplay({
    broker,
    fanout,
    counters,
    maxQueuedBytes: limits.maxQueuedBytes,
    pageSize,
    retryBytes,
  });

  const publish = async (
    target: string | readonly string[],
    event: string | PublishEvent,
  ): Promise<string> => {
    if (closing) throw new HubClosedError('the hub is closing');
    const list = checkTopics(typeof target === 'string' ? [target] : target, limits);
    const init = checkEvent(typeof event === 'string' ? { data: event } : event);
    inflight++;
    try {
      const id = await broker.publish(list, init);
      counters.eventsPublished++;
      return id;
    } finally {
      if (--inflight === 0 && drained !== null) drained();
    }
  };

  const http = createHttp({
    fanout,
    replay,
    counters,
    rejected,
    authorize: options.authorize,
    maxTopics: limits.maxTopics,
    maxTopicLength: limits.maxTopicLength,
    maxSubscribers: limits.maxSubscribers,
    maxSubscribersPerAddress: limits.maxSubscribersPerAddress,
    maxPublishBytes: limits.maxPublishBytes,
    retryAfter,
    headers: options.headers,
    allowedHosts: options.allowedHosts,
    allowedOrigins: options.allowedOrigins ?? [],
    retryBytes,
    closing: isClosing,
    onError,
    publish,
  });

  const heartbeatTimer =
    heartbeat === false ? undefined : setInterval(() => fanout.heartbeat(HEARTBEAT), heartbeat);
  (heartbeatTimer as { unref?: () => void } | undefined)?.unref?.();

  const shutdown = async (timeout: number): Promise<void> => {
    closing = true;
    if (inflight > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          drained = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeout);
        }),
      ]);
      clearTimeout(timer);
    }
    if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer);
    fanout.endAll();
    await fanout.closeFeed();
    if (ownsBroker) await broker.close();
  };

  const hub: Hub = {
    publish,
    subscribe: http.subscribe as Hub['subscribe'],
    handler: http.handler,
    metrics() {
      let queuedBytes = 0;
      for (const sub of fanout.subscribers) queuedBytes += sub.outlet.queuedBytes;
      return {
        subscribers: fanout.subscribers.size,
        topics: fanout.topicCount,
        queuedBytes,
        ...counters,
        rejected: { ...rejected },
      };
    },
    prometheus(labels) {
      return toPrometheus(hub.metrics(), labels);
    },
    close(closeOptions = {}) {
      const timeout = checkNumber('timeout', closeOptions.timeout ?? 5000, { min: 0 });
      closed ??= shutdown(timeout);
      return closed;
    },
  };
  return hub;
}
