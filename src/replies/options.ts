/**
 * The options of `createReplies`, their defaults and their checks, in one place.
 */
import type { Broker } from '../hub/broker.js';
import { HISTORY_EVENT_OVERHEAD_BYTES } from '../hub/history.js';
import { defaultHeartbeat } from '../server/event-stream.js';
import { checkNumber } from '../server/options.js';
import type { RepliesAuthorize } from './http.js';
import { type EndReason, topicsOf, utf8Length } from './log.js';
import type { ReplyEvent } from './run.js';

/** Bounds of replies. Every one has a default. */
export interface RepliesLimits {
  /**
   * Events in one reply's log (the producer's; the markers are extra). Past it the reply ends as
   * `too-large`. Default 10,000, lowered to fit what the broker keeps per topic (its
   * `topicLimits`: 9,984 on a Redis broker with the default `maxLen` of 10,000); a value set here
   * that does not fit is a `RangeError`, since a full reply's log would be trimmed.
   */
  maxEventsPerReply?: number;
  /**
   * Bytes in one reply's log (UTF-8 of every event's data and type). Past it the reply ends as
   * `too-large`. Default 1 MiB, lowered (like `maxEventsPerReply`) to fit the broker's bytes per
   * topic, which also count each event's id, topics and a fixed overhead.
   */
  maxBytesPerReply?: number;
  /** How long a finished reply can still be read (then `404`), ms. Default 600,000 (10 minutes). */
  retention?: number;
  /** Producers running at once on this instance. Past it a POST answers `503` with `Retry-After`. Default 100. */
  maxRunning?: number;
  /** Responses open at once on this instance (each holds a connection). Past it: `503` with `Retry-After`. Default 10,000. */
  maxReaders?: number;
  /**
   * Bytes of the logs of replies this instance started and still keeps (1 KiB counted per reply
   * on top of its events, and the producer's heartbeats). Past it, the finished replies started
   * longest ago are dropped (`404`) to make room; when only running ones are left, a POST answers
   * `503`. Default 64 MiB. Dropping needs a broker with `expire()` (the built-in ones have it).
   */
  maxStoredBytes?: number;
  /**
   * Stop a reply nobody has read for this long (reason `idle`), ms, counting readers on every
   * instance. `false` (default): a reply runs to its end unread, so the answer is there after a
   * reload.
   */
  idleStopAfter?: number | false;
  /**
   * Bytes queued for one response (a slow client); past it (plus room for one event, which is
   * never split) the response is cut and the client resumes from the log. Also the bound of live
   * events held while a replay is read. Default 1 MiB.
   */
  maxQueuedBytes?: number;
  /** Longest `Idempotency-Key` accepted (longer: `400`). Default 255. */
  maxIdempotencyKeyLength?: number;
}

/** Options of `createReplies`. */
export interface RepliesOptions {
  /**
   * Where reply logs live. Default: a new in-memory broker sized for the limits (one process).
   * Several instances share replies through a shared broker. Its ids must be stream ids
   * (`<ms>-<seq>`), as the memory, cluster and Redis brokers' are.
   */
  broker?: Broker;
  /** Path of reply URLs: a reply's URL is `basePath + id`. Starts and ends with `/`. Default `'/replies/'`. */
  basePath?: string;
  /**
   * Prefix of the broker topics of replies (`<prefix><id>`, `.../control`, `.../alive`). Default
   * `'reply/'`. On a broker shared with a hub whose clients may subscribe or publish, keep these
   * topics out of their reach (the hub's `authorize`).
   */
  topicPrefix?: string;
  /** Decides who may start, read and stop a reply. Default: everyone may. */
  authorize?: RepliesAuthorize;
  limits?: RepliesLimits;
  /**
   * Longest life of one response, ms: set it below your platform's limit (a serverless
   * function's duration). The response then ends cleanly with `retry` and the last id sent, and
   * the client resumes from the log. `false` (default): no limit.
   */
  maxDuration?: number | false;
  /** The `retry` hint (ms) sent when a response ends before its reply (maxDuration, shutdown, trouble). Default 100. */
  retry?: number;
  /** Heartbeat comments on each response, ms, or `false`. Default as `createEventStream` (10 s, 5 s under Bun). */
  heartbeat?: number | false;
  /** The producer's instance publishes a heartbeat after this long without publishing, ms. Default 1,000. */
  producerHeartbeat?: number;
  /**
   * Readers end a reply as `producer-lost` after hearing nothing from its producer for this long,
   * ms. Default 5,000. Keep it several times `producerHeartbeat`.
   */
  producerLostAfter?: number;
  /** After a stop, how long the producer has to settle (its `finally`) before `end` is written, ms. Default 100. */
  stopGrace?: number;
  /**
   * How long a `DELETE` waits for the producer's instance to end the reply before ending it
   * itself (the producer is gone or stuck), ms. Default 2,000.
   */
  stopTimeout?: number;
  /** How long an `Idempotency-Key` names its reply, ms. Default 86,400,000 (24 hours). */
  idempotencyTtl?: number;
  /**
   * How long a `503` asks the client to wait, ms: sent as `Retry-After` in whole seconds, rounded
   * up. Default 5,000.
   */
  retryAfter?: number;
  /** Extra headers on every stream response (CORS: expose `Content-Location`). */
  headers?: HeadersInit;
  /** Events per history page while replaying. Default 500. */
  pageSize?: number;
  /**
   * What a client is sent in place of a reply's `end` event, for a wire protocol that has an end
   * marker of its own (the AI SDK's UI message stream ends with `data: [DONE]`: `ssekit/ai-sdk`
   * sets this). The events are written in order; the last one carries the end's id, so a client
   * that resumes with it still gets `204`. Default: the `end` event, as stored.
   */
  endEvents?: (reason: EndReason) => readonly ReplyEvent[];
  /** Where errors go that have no caller: a producer that threw, a broker that failed. Default `console.error`. */
  onError?: (error: unknown) => void;
}

/** The defaults of {@link RepliesLimits} (`idleStopAfter: false`: off). */
export const DEFAULT_LIMITS = {
  maxEventsPerReply: 10_000,
  maxBytesPerReply: 1024 * 1024,
  retention: 10 * 60_000,
  maxRunning: 100,
  maxReaders: 10_000,
  maxStoredBytes: 64 * 1024 * 1024,
  idleStopAfter: false as number | false,
  maxQueuedBytes: 1024 * 1024,
  maxIdempotencyKeyLength: 255,
} satisfies Required<RepliesLimits>;

/** Events a log holds beyond the producer's: the open marker, the end, room for stray second ends. */
export const LOG_MARKERS = 16;
// Data and type of one marker, at most (`end` with `{"reason":"producer-lost"}` is 29).
const MARKER_BYTES = 64;
// The longest stream id: 16 digits, '-', 16 digits.
const MAX_ID_LENGTH = 33;

/**
 * The most a reply's log takes in one topic of the broker: `events` (the producer's plus the
 * markers) and `bytes`, counted as the brokers count history (`historyEventBytes`: data, type,
 * id, topics, plus a fixed overhead per event; topics as JSON, which is what Redis counts and
 * never less than the memory broker's sum of their lengths).
 */
export function logBounds(topicPrefix: string, maxEvents: number, maxBytes: number) {
  const perEvent = logEventOverhead(topicPrefix);
  const events = maxEvents + LOG_MARKERS;
  return { events, bytes: maxBytes + LOG_MARKERS * MARKER_BYTES + events * perEvent };
}

/**
 * What the broker counts for one event of a log beyond its data and type (`historyEventBytes`:
 * a fixed overhead, the id, the topics), at most. The markers go to the log and the control topic
 * at once: the longest topic list of a log event.
 */
export function logEventOverhead(topicPrefix: string): number {
  const { log, control } = topicsOf(topicPrefix, 'x'.repeat(22));
  return HISTORY_EVENT_OVERHEAD_BYTES + MAX_ID_LENGTH + utf8Length(JSON.stringify([log, control]));
}

/**
 * Fits the log's bounds under what the broker keeps per topic (`Broker.topicLimits`), so a full
 * reply's log is never trimmed (its open marker first, after which a replay from the start
 * could only say `expired`). A bound left to its default is lowered to fit (the Redis broker's
 * default `maxLen` of 10,000 leaves 9,984 events a reply); one set explicitly that does not fit
 * is a `RangeError`. A broker that does not say (a cluster worker's proxy) is trusted.
 */
function fitToBroker(
  broker: Broker | undefined,
  topicPrefix: string,
  limits: { maxEvents: number; maxBytes: number },
  explicit: { maxEvents: boolean; maxBytes: boolean },
): { maxEvents: number; maxBytes: number } {
  const kept = broker?.topicLimits;
  if (kept === undefined) return limits;
  let { maxEvents, maxBytes } = limits;
  if (maxEvents + LOG_MARKERS > kept.maxEvents) {
    if (explicit.maxEvents || kept.maxEvents - LOG_MARKERS < 1) {
      throw new RangeError(
        `maxEventsPerReply (${maxEvents}) plus ${LOG_MARKERS} markers is more than the broker keeps per topic ` +
          `(${kept.maxEvents} events): a full reply's log would be trimmed. Raise the broker's bound ` +
          `(createRedisBroker's maxLen, the memory broker's history.maxEvents) or lower maxEventsPerReply`,
      );
    }
    maxEvents = kept.maxEvents - LOG_MARKERS;
  }
  const over = logBounds(topicPrefix, maxEvents, maxBytes).bytes - kept.maxBytes;
  if (over > 0) {
    if (explicit.maxBytes || maxBytes - over < 1) {
      throw new RangeError(
        `a full reply's log (maxBytesPerReply ${maxBytes}, and ${maxEvents + LOG_MARKERS} events as the broker ` +
          `counts them) takes up to ${over} bytes more than the broker keeps per topic (${kept.maxBytes}): ` +
          `raise the broker's maxBytes or lower maxBytesPerReply or maxEventsPerReply`,
      );
    }
    maxBytes -= over;
  }
  return { maxEvents, maxBytes };
}

const positive = (name: string, value: unknown, integer = true): number =>
  checkNumber(name, value, { fraction: !integer });

/** The options with every default filled in; a `RangeError` or `TypeError` for a bad one. */
export function resolveOptions(options: RepliesOptions) {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const idleStopAfter: number | false =
    limits.idleStopAfter === false ? false : positive('idleStopAfter', limits.idleStopAfter);
  const basePath = options.basePath ?? '/replies/';
  if (typeof basePath !== 'string' || !basePath.startsWith('/') || !basePath.endsWith('/')) {
    throw new TypeError(`basePath must start and end with '/', got ${String(basePath)}`);
  }
  const topicPrefix = options.topicPrefix ?? 'reply/';
  if (typeof topicPrefix !== 'string' || topicPrefix === '')
    throw new TypeError('topicPrefix must be a non-empty string');
  const heartbeat = options.heartbeat ?? defaultHeartbeat();
  const maxDuration = options.maxDuration ?? false;
  const retry = options.retry ?? 100;
  checkNumber('retry', retry, { min: 0 });
  const log = fitToBroker(
    options.broker,
    topicPrefix,
    {
      maxEvents: positive('maxEventsPerReply', limits.maxEventsPerReply),
      maxBytes: positive('maxBytesPerReply', limits.maxBytesPerReply),
    },
    {
      maxEvents: options.limits?.maxEventsPerReply !== undefined,
      maxBytes: options.limits?.maxBytesPerReply !== undefined,
    },
  );
  return {
    basePath,
    topicPrefix,
    maxEventsPerReply: log.maxEvents,
    maxBytesPerReply: log.maxBytes,
    retention: positive('retention', limits.retention),
    maxRunning: positive('maxRunning', limits.maxRunning),
    maxReaders: positive('maxReaders', limits.maxReaders),
    maxStoredBytes: positive('maxStoredBytes', limits.maxStoredBytes),
    idleStopAfter: idleStopAfter as number | false,
    maxQueuedBytes: positive('maxQueuedBytes', limits.maxQueuedBytes),
    maxIdempotencyKeyLength: positive('maxIdempotencyKeyLength', limits.maxIdempotencyKeyLength),
    maxDuration: (maxDuration === false ? false : positive('maxDuration', maxDuration)) as number | false,
    retry,
    heartbeat: (heartbeat === false ? false : positive('heartbeat', heartbeat)) as number | false,
    producerHeartbeat: positive('producerHeartbeat', options.producerHeartbeat ?? 1000),
    producerLostAfter: positive('producerLostAfter', options.producerLostAfter ?? 5000),
    stopGrace: positive('stopGrace', options.stopGrace ?? 100),
    stopTimeout: positive('stopTimeout', options.stopTimeout ?? 2000),
    idempotencyTtl: positive('idempotencyTtl', options.idempotencyTtl ?? 24 * 60 * 60_000),
    retryAfter: checkNumber('retryAfter', options.retryAfter ?? 5000, { min: 0 }),
    pageSize: positive('pageSize', options.pageSize ?? 500),
    endEvents: options.endEvents,
    onError: options.onError ?? ((error: unknown) => console.error('ssekit replies:', error)),
  };
}

export type ResolvedOptions = ReturnType<typeof resolveOptions>;
