/**
 * The producer's side of a reply: runs `produce` once, detached from any request, appends what
 * it sends to the reply's log in order, enforces the log's bounds, follows the control topic
 * (a stop from any instance), and writes the `end` event when it is over.
 */
import {
  type Broker,
  type BrokerEvent,
  type BrokerEventInit,
  type PublishMemo,
  type PublishNowFn,
  publishNowOf,
} from '../hub/broker.js';
import { checkData, checkEventType } from '../protocol/encode.js';
import { EncodeError } from '../protocol/errors.js';
import { ReplyInputError, ReplyStoppedError } from './errors.js';
import type { Following, RepliesFeed, Watcher } from './feed.js';
import {
  ALIVE_MARK,
  END_EVENT,
  type EndReason,
  endData,
  endReasonOf,
  LOG_START,
  OPEN_MARK,
  READING_MARK,
  type ReplyTopics,
  STOP_MARK,
  utf8Length,
} from './log.js';
import type { Stored } from './store.js';

/** One event of a reply: a string is shorthand for `{ data }`. The broker assigns its id. */
export type ReplyEvent = string | { readonly event?: string; readonly data: string };

/** What a producer gets. */
export interface ReplyContext {
  /** The reply's id (128 random bits, base64url). */
  readonly id: string;
  /** The reply's URL (`basePath` + id): where a client resumes it, and what `DELETE` stops. */
  readonly url: string;
  /**
   * Aborts when the reply ends before the producer does: stopped (DELETE, `stop()`), too large,
   * idle, shutdown, given up as lost by another instance, or the broker could not keep the
   * reply (unreachable, or restarted without its data). Its `reason` is a
   * `ReplyStoppedError`. Pass it to the upstream call (`fetch(llmUrl, { signal })`). It does NOT
   * abort when the client that started the reply goes away: the reply goes on without it.
   */
  readonly signal: AbortSignal;
  /**
   * Appends one event to the reply's log, after every event sent before it. Resolves `true` once
   * the event is taken: at once while less than `SEND_AHEAD_BYTES` (256 KiB) of the reply's
   * events are on their way to the broker, else once the broker has them (backpressure). One
   * batch is on its way at a time; what is sent meanwhile goes with the next, as one batch.
   * Resolves `false` when it was not taken (the reply has ended, or the log is full: the reply
   * then ends as `too-large`). Should the broker fail to store an event taken, the reply ends as
   * `failed` (the signal aborts) and nothing after it is stored. Never rejects. Throws a
   * `ReplyInputError` synchronously for an event the log will not take (CR or LF in `event`,
   * the reserved type `end`).
   */
  send(event: ReplyEvent): Promise<boolean>;
}

/**
 * The producer: the model call. It either sends events through `reply.send` and resolves when
 * done, or returns an (async) iterable whose items are sent in order (an async generator). It
 * runs once, to its end, whoever reads.
 */
export type Produce = (
  reply: ReplyContext,
) => Promise<unknown> | undefined | AsyncIterable<ReplyEvent> | Iterable<ReplyEvent>;

export interface RunOptions {
  readonly broker: Broker;
  readonly feed: RepliesFeed;
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly stopGrace: number;
  readonly producerHeartbeat: number;
  readonly now: () => number;
  readonly onError: (error: unknown) => void;
  /** The run is over (its `end` event is written, or could not be). */
  readonly onEnd: (run: Run) => void;
  /**
   * Bytes stored for the run, as the broker counts them: each event's data and type plus
   * `eventOverhead` (so that `maxStoredBytes` bounds what the broker holds, not only the text).
   */
  readonly onBytes: (run: Run, bytes: number) => void;
  readonly eventOverhead: number;
}

const RESOLVED_FALSE = Promise.resolve(false);
const RESOLVED_TRUE = Promise.resolve(true);
/** Bytes of a reply's events on their way to the broker before `send` waits for them. */
export const SEND_AHEAD_BYTES = 256 * 1024;

/**
 * A producer's {@link ReplyContext}. A class, not an object literal with a getter (which V8 keeps
 * as a dictionary, so a producer calling `context.send` for each token paid a hash lookup): its
 * `signal` is the prototype's getter, made when first asked for (a producer that never looks at
 * it costs no signal).
 */
class Context implements ReplyContext {
  readonly id: string;
  readonly url: string;
  readonly send: ReplyContext['send'];
  readonly #controller: AbortController;

  constructor(id: string, url: string, send: ReplyContext['send'], controller: AbortController) {
    this.id = id;
    this.url = url;
    this.send = send;
    this.#controller = controller;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }
}

/** Gets a reply's log events as they land, in order (the readers of a producer running here). */
export interface LocalWatcher {
  /** An event of the reply's log, as it landed. */
  onLog(event: BrokerEvent): void;
}

const ALIVE: BrokerEventInit = { event: ALIVE_MARK, data: '' };
// What a heartbeat costs in the broker's memory, roughly (id, type, topic list).
const ALIVE_BYTES = 64;

const STOP_MESSAGES: Record<EndReason, string> = {
  done: 'the reply is done',
  failed: 'the producer failed',
  stopped: 'the reply was stopped',
  'producer-lost': 'another instance gave up on this producer',
  'too-large': 'the reply reached the bounds of its log',
  idle: 'nobody read the reply',
  shutdown: 'the server is shutting down',
  expired: 'the reply expired',
};

function toInit(item: ReplyEvent): BrokerEventInit {
  if (typeof item === 'string') return { data: item };
  if (typeof item !== 'object' || item === null) {
    throw new ReplyInputError('invalid-event', 'send expects a string or { event?, data }');
  }
  const { event, data } = item;
  try {
    checkData(data);
    if (event !== undefined) checkEventType(event);
  } catch (error) {
    if (error instanceof EncodeError)
      throw new ReplyInputError('invalid-event', error.message, { cause: error });
    throw error;
  }
  if (event === END_EVENT) {
    throw new ReplyInputError(
      'reserved-event',
      `the event type '${END_EVENT}' ends a reply; producers may not send it`,
    );
  }
  return event === undefined ? { data } : { event, data };
}

function isIterable(value: unknown): value is AsyncIterable<ReplyEvent> | Iterable<ReplyEvent> {
  return (
    typeof value === 'object' &&
    value !== null &&
    (Symbol.asyncIterator in value || Symbol.iterator in value) &&
    typeof (value as { then?: unknown }).then !== 'function'
  );
}

type Outcome = { ok: true } | { ok: false; error: unknown };

export class Run implements Watcher {
  readonly id: string;
  readonly url: string;
  readonly topics: ReplyTopics;
  readonly #options: RunOptions;
  readonly #controller = new AbortController();
  events = 0;
  bytes = 0;
  /** Set once the reply's end is decided: later sends are refused. */
  ended: EndReason | null = null;
  /** When this instance last published for the reply (the heartbeat is sent after a quiet spell). */
  lastPublish: number;
  /** When someone last read the reply (idle stop): a local reader, or a notice from elsewhere. */
  lastRead: number;
  /** What the store counts for this reply, once it is in (see `store.ts`). */
  stored: Stored | undefined;
  /** Readers of this reply open on this instance. */
  readersHere = 0;
  stamp?: number;
  /**
   * The readers of this reply in this process: they get its log events from here as they land,
   * not through the broker's feed (which this process then need not follow for the log).
   */
  localWatch: LocalWatcher | null = null;
  /** The id of the log's open marker, once it is open. */
  openId: string | undefined;
  /**
   * Nothing has landed in the log after its open marker yet: a reader that attaches now (to the
   * local watch) gets every event from here on live, and has nothing to replay.
   */
  quiet = true;
  /** Events taken and not sent to the broker yet, and their bytes (with those in flight). */
  #queue: BrokerEventInit[] = [];
  #queuedBytes = 0;
  #aheadBytes = 0;
  /** The batch in flight: resolves `true` once it landed, `false` when it failed. */
  #inFlight: Promise<boolean> | null = null;
  /** Settles with the outcome of the batch that will carry what is queued now. */
  #nextLanding: { promise: Promise<boolean>; resolve: (ok: boolean) => void } | null = null;
  /** A batch failed: nothing more is sent. */
  #broken = false;
  #following: Following | null = null;
  /** The topics of a log event: one frozen array, which the broker may keep instead of a copy. */
  readonly #logTopics: readonly string[];
  /** The broker's synchronous publish, when it has one (the in-memory broker). */
  readonly #publishNow: PublishNowFn | undefined;
  /** Where the broker's synchronous publish remembers the log's history between events. */
  readonly #memo: PublishMemo = {};
  #settled: Promise<Outcome> | null = null;
  #ending: Promise<void> | null = null;

  constructor(id: string, url: string, topics: ReplyTopics, options: RunOptions) {
    this.id = id;
    this.url = url;
    this.topics = topics;
    this.#logTopics = Object.freeze([topics.log]);
    this.#publishNow = publishNowOf(options.broker);
    this.#options = options;
    this.lastPublish = options.now();
    this.lastRead = this.lastPublish;
  }

  /**
   * The control topic is followed (a stop is never missed), then the log is opened. `chat`: the
   * topic of the chat this reply answers in gets the same open marker, in the same publish (one
   * id), with the reply's id as its data: from then on it is the chat's active reply.
   */
  async open(chat?: string): Promise<void> {
    this.#following = this.#options.feed.follow([this.topics.control], this);
    try {
      await this.#following.ready;
      const topics =
        chat === undefined
          ? [this.topics.log, this.topics.control]
          : [this.topics.log, this.topics.control, chat];
      const open = { event: OPEN_MARK, data: chat === undefined ? '' : this.id };
      const id = await this.#publish(topics, open);
      this.lastPublish = this.#options.now();
      this.openId = id;
      this.localWatch?.onLog({ id, topics, ...open });
    } catch (error) {
      this.#following.release();
      throw error;
    }
  }

  /** A marker into the broker: at once when it takes publishes so (no promise to wait for). */
  #publish(topics: readonly string[], init: BrokerEventInit): string | Promise<string> {
    const publishNow = this.#publishNow;
    return publishNow === undefined
      ? this.#options.broker.publish(topics, init)
      : publishNow(Object.freeze(topics), init).id;
  }

  /** Starts the producer. Returns a promise of the reply's end (for `waitUntil`). */
  start(produce: Produce): Promise<void> {
    const context = new Context(this.id, this.url, this.send, this.#controller);
    this.#settled = (async (): Promise<Outcome> => {
      try {
        const result = produce(context);
        if (isIterable(result)) {
          for await (const item of result) {
            if (this.ended !== null || !(await this.send(item))) break;
          }
        } else {
          await result;
        }
        return { ok: true };
      } catch (error) {
        return { ok: false, error };
      }
    })();
    return this.#settled.then((outcome) => {
      if (this.ended !== null) return this.#ending ?? undefined;
      if (outcome.ok) return this.#finish('done', true, false);
      this.#options.onError(outcome.error);
      return this.#finish('failed', true, false);
    });
  }

  readonly send = (item: ReplyEvent): Promise<boolean> => {
    if (this.ended !== null) return RESOLVED_FALSE;
    const init = toInit(item);
    const size = utf8Length(init.data) + (init.event === undefined ? 0 : utf8Length(init.event));
    if (this.events + 1 > this.#options.maxEvents || this.bytes + size > this.#options.maxBytes) {
      void this.#finish('too-large', true, true);
      return RESOLVED_FALSE;
    }
    this.events++;
    this.bytes += size;
    this.#options.onBytes(this, size + this.#options.eventOverhead);
    const publishNow = this.#publishNow;
    if (publishNow !== undefined && this.#inFlight === null && this.#queue.length === 0) {
      // A broker that takes it at once (in memory): no batch, no promise, no turn of the loop;
      // the readers here have it before `send` returns.
      let event: BrokerEvent;
      try {
        this.#memo.size = size;
        event = publishNow(this.#logTopics, init, this.#memo);
      } catch (error) {
        this.#failed(error);
        return RESOLVED_FALSE;
      }
      this.lastPublish = this.#options.now();
      this.#landed(event);
      return RESOLVED_TRUE;
    }
    this.#queue.push(init);
    this.#queuedBytes += size;
    this.#aheadBytes += size;
    // Nothing on its way: it goes at the end of this turn of the event loop, with what else the
    // producer sends in this turn (a burst from an upstream read: one batch, so one write to each
    // reader, not one for its first event and one for the rest). Else it waits for what is on its
    // way, and goes with what else the producer sends meanwhile, as one batch.
    if (this.#inFlight === null) Run.#flushAfterTurn(this);
    if (this.#aheadBytes <= SEND_AHEAD_BYTES) return RESOLVED_TRUE;
    // Past the bound: resolves once the batch that carries this event has landed.
    if (this.#queue.length === 0 && this.#inFlight !== null) return this.#inFlight;
    return this.#landingOfQueue();
  };

  #landingOfQueue(): Promise<boolean> {
    if (this.#nextLanding === null) {
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => {
        resolve = r;
      });
      this.#nextLanding = { promise, resolve };
    }
    return this.#nextLanding.promise;
  }

  // Runs with events queued and nothing on the way, flushed together once this turn's callbacks
  // have run (one callback for all of them, not one per run).
  static #toFlush = new Set<Run>();
  static #flushScheduled = false;

  static #flushAfterTurn(run: Run): void {
    Run.#toFlush.add(run);
    if (Run.#flushScheduled) return;
    Run.#flushScheduled = true;
    const flushAll = (): void => {
      Run.#flushScheduled = false;
      const runs = [...Run.#toFlush];
      Run.#toFlush.clear();
      for (const queued of runs) queued.#flush();
    };
    if (typeof setImmediate === 'function') setImmediate(flushAll);
    else setTimeout(flushAll, 0);
  }

  /**
   * Sends what is queued, as one batch: one batch in flight at a time, so the log's id order is
   * the order of `send` calls, and a batch that fails is followed by none (no hole in the log).
   */
  #flush(): void {
    if (this.#inFlight !== null || this.#queue.length === 0) return;
    const batch = this.#queue;
    const bytes = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    const landing = this.#nextLanding;
    this.#nextLanding = null;
    const { broker } = this.#options;
    const topics = this.#logTopics;
    // All asked at once: a broker that gathers publishes (Redis) sends them as one command.
    const published =
      batch.length === 1
        ? broker.publish(topics, batch[0] as BrokerEventInit)
        : Promise.all(batch.map((init) => broker.publish(topics, init)));
    this.#inFlight = published.then(
      (landed) => {
        this.lastPublish = this.#options.now();
        this.quiet = false;
        const watch = this.localWatch;
        if (watch !== null) {
          for (let i = 0; i < batch.length; i++) {
            const { event, data } = batch[i] as BrokerEventInit;
            const id = typeof landed === 'string' ? landed : (landed[i] as string);
            watch.onLog({ id, topics, event, data });
          }
        }
        this.#aheadBytes -= bytes;
        this.#inFlight = null;
        landing?.resolve(true);
        if (this.#queue.length > 0) this.#flush();
        return true;
      },
      (error: unknown) => {
        this.#inFlight = null;
        landing?.resolve(false);
        this.#failed(error);
        return false;
      },
    );
  }

  /** An event landed in the log: to the readers here. */
  #landed(event: BrokerEvent): void {
    this.quiet = false;
    this.localWatch?.onLog(event);
  }

  /** The broker did not take an event: nothing more is sent, and the reply ends failed. */
  #failed(error: unknown): void {
    this.#broken = true;
    this.#nextLanding?.resolve(false);
    this.#nextLanding = null;
    this.#queue = [];
    this.#queuedBytes = 0;
    // The broker is unreachable: nothing more can be written. Readers elsewhere will find
    // the producer lost (no heartbeat follows), which is the truth of it.
    this.#options.onError(error);
    this.#lost('the broker did not take an event of the reply');
  }

  /** Waits until every event taken has landed (or a batch failed). */
  async #drain(): Promise<void> {
    while (!this.#broken && (this.#inFlight !== null || this.#queue.length > 0)) {
      if (this.#inFlight === null) this.#flush();
      await this.#inFlight;
    }
  }

  /** A heartbeat on the alive topic when nothing was published for a while. */
  heartbeat(now: number): void {
    if (this.ended !== null || now - this.lastPublish < this.#options.producerHeartbeat) return;
    this.lastPublish = now;
    this.#options.onBytes(this, ALIVE_BYTES);
    this.#options.broker.publish([this.topics.alive], ALIVE).catch(this.#options.onError);
  }

  /** Ends the reply: the producer's signal aborts, and `end` is written once it settled (or after the grace). */
  stop(reason: EndReason): Promise<void> {
    return this.#finish(reason, true, true);
  }

  onEvent(event: BrokerEvent): void {
    switch (event.event) {
      case STOP_MARK:
        void this.stop('stopped');
        break;
      case READING_MARK:
        this.lastRead = this.#options.now();
        break;
      case END_EVENT:
        // Another instance ended the reply (it found this one lost): stop without a second end.
        // The end is in the log too: the readers here get it.
        this.#landed(event);
        if (this.ended === null) void this.#finish(endReasonOf(event.data), false, false);
        break;
    }
  }

  onFeedError(): void {
    // A stop may have been missed: read the control topic's history for it.
    this.#options.broker.history([this.topics.control], LOG_START).then((page) => {
      let opened = false;
      for (const event of page.events) {
        if (this.ended !== null) return;
        if (event.event === OPEN_MARK) opened = true;
        else if (event.event === STOP_MARK || event.event === END_EVENT) this.onEvent(event);
      }
      // The open marker is gone and not by trimming: the broker lost the reply (a Redis
      // restarted without its data). A log without its start cannot be resumed: end it.
      if (!opened && !page.truncated && this.ended === null) this.#lost("the broker lost the reply's log");
    }, this.#options.onError);
  }

  /**
   * The broker cannot keep the reply (unreachable, or it lost the log): nothing more can be
   * written, so the producer is stopped too (its signal aborts), and the reply ends as `failed`.
   */
  #lost(message: string): void {
    if (this.ended !== null) return;
    this.#controller.abort(new ReplyStoppedError('failed', message));
    void this.#finish('failed', true, false);
  }

  #finish(reason: EndReason, publishEnd: boolean, wait: boolean): Promise<void> {
    if (this.#ending !== null) return this.#ending;
    this.ended = reason;
    if (reason !== 'done' && reason !== 'failed') {
      this.#controller.abort(new ReplyStoppedError(reason, STOP_MESSAGES[reason]));
    }
    this.#ending = (async () => {
      if (wait && this.#settled !== null) {
        // The producer's `finally` runs before the end is written, unless it ignores its signal.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          this.#settled,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, this.#options.stopGrace);
          }),
        ]);
        clearTimeout(timer);
      }
      // Sends accepted before the end land before it.
      await this.#drain();
      // The broker did not take what the producer sent: whatever ended it, the reply failed.
      if (this.#broken && reason === 'done') {
        reason = 'failed';
        this.ended = reason;
      }
      if (publishEnd) {
        try {
          const end = { event: END_EVENT, data: endData(reason) };
          const topics = [this.topics.log, this.topics.control];
          const id = await this.#publish(topics, end);
          this.#landed({ id, topics, ...end });
        } catch (error) {
          this.#options.onError(error);
        }
      }
      this.#following?.release();
      this.#options.onEnd(this);
    })();
    return this.#ending;
  }
}
