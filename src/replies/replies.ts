/**
 * Replies that survive the network: a producer (the model call) started once by a POST, run to
 * its end detached from that request, its events in a log on the broker; any GET of the reply's
 * URL replays the log (from the start, or after `Last-Event-ID`) and follows it live; DELETE
 * stops it from any instance. See log.ts for the topics and markers, run.ts for the producer's
 * side, reader.ts for a response.
 */
import type { AuthorizeResult } from '../hub/auth.js';
import { type Broker, createMemoryBroker } from '../hub/broker.js';
import { encodeEvent } from '../protocol/encode.js';
import { openEventStream } from '../server/event-stream.js';
import { checkNumber, retryAfterHeader } from '../server/options.js';
import { readState, stopReply } from './control.js';
import { createFeed } from './feed.js';
import { idempotencyKeyOf, plain, type ReplyAction, refusalOf, replyIdOf, resumePointOf } from './http.js';
import { type EndReason, LOG_START, newReplyId, OPEN_MARK, REPLY_ID, timeOfId, topicsOf } from './log.js';
import { logBounds, logEventOverhead, type RepliesOptions, resolveOptions } from './options.js';
import { FirstPage, Reader, type ReaderOptions, ReplyWatch } from './reader.js';
import { type Produce, type ReplyEvent, Run, type RunOptions } from './run.js';
import { createStore, REPLY_OVERHEAD } from './store.js';
import { createUpkeep } from './upkeep.js';

/** Options of {@link Replies.start}. */
export interface StartOptions {
  /** An idempotency key from elsewhere than the `Idempotency-Key` header (which it replaces). */
  idempotencyKey?: string;
  /**
   * Called with a promise that settles when the reply has ended: hand it to the platform's
   * `waitUntil` (Vercel, Cloudflare) or Next.js `after()`, which otherwise may freeze the
   * function once the response is sent, producer and all.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * The chat this reply answers in (1 to 256 characters, no control characters): the reply
   * becomes the chat's active one, which {@link Replies.chatHandler} serves and stops on any
   * instance sharing the broker. A chat has one active reply: starting another stops the one
   * before. The chat's topic on the broker is kept for `idempotencyTtl` after its last start.
   */
  chatId?: string;
}

/** Counters of this instance. */
export interface RepliesMetrics {
  /** Producers started here. */
  started: number;
  /** Producers running here now. */
  running: number;
  /** POSTs that joined a reply by its Idempotency-Key instead of starting one. */
  joined: number;
  /** GETs that resumed with a Last-Event-ID. */
  resumed: number;
  /** Responses open now. */
  readers: number;
  /** Responses ended by `maxDuration` (the client resumes). */
  handoffs: number;
  /** Bytes of the logs of replies started here and still kept (see `maxStoredBytes`). */
  storedBytes: number;
  /** Replies ended here, by reason (`producer-lost`: declared by this instance's readers). */
  ended: Record<EndReason, number>;
  /** Refused requests, by HTTP status. */
  rejected: Record<string, number>;
}

/** Options of {@link Replies.close}. */
export interface RepliesCloseOptions {
  /** Wait at most this long (ms) for running producers to finish before stopping them (reason `shutdown`). Default 5,000. */
  timeout?: number;
}

export interface Replies {
  /**
   * For the POST route: starts `produce` once, detached from the request (the client leaving
   * does not stop it), and answers `200` streaming the reply from its start, with
   * `Content-Location: <reply url>`. With an `Idempotency-Key` that names a running or finished
   * reply, joins it instead (same URL, same events; `authorize` is asked for `read` on it),
   * after its `Last-Event-ID` when the POST has one (a client reconnecting by posting again;
   * `204` once it has the `end`). Refusals are answers: `400` (bad key or Last-Event-ID),
   * `401`/`403`, `503` + `Retry-After` (busy, closing, broker unavailable).
   */
  start(request: Request, produce: Produce, options?: StartOptions): Promise<Response>;
  /**
   * For `<basePath>:id`: `GET` replays the reply (after `Last-Event-ID`, header or `lastEventId`
   * query) and follows it until its `end` event; `204` once the client has the `end` event's
   * id; `404` unknown or expired. `DELETE` stops it wherever it runs: `204`, or `404`. Other
   * methods: `405`.
   */
  handler(request: Request): Promise<Response>;
  /**
   * For a chat's stream URL (the AI SDK's `<api>/<chatId>/stream`): `GET` serves the chat's
   * active reply (see {@link StartOptions.chatId}) from its start while it runs, `204` when the
   * chat has no running reply; with `Last-Event-ID`, what follows that id, as `handler` serves
   * the reply's URL (even once the reply has ended; `204` once the client has its end).
   * `DELETE` stops that reply wherever it runs: `204`, or `404` when the chat has no reply.
   * `authorize` is asked for `read` or `stop` on the reply. Other methods: `405`.
   */
  chatHandler(request: Request, chatId: string): Promise<Response>;
  /** Stops a reply from server code (no authorization). Resolves `true` when it was running. */
  stop(id: string): Promise<boolean>;
  /**
   * Shutdown: refuses new work (`503`), waits for running producers up to `timeout`, stops the
   * rest (`shutdown`), ends every response with a retry hint. Closes the broker if it made it.
   */
  close(options?: RepliesCloseOptions): Promise<void>;
  metrics(): RepliesMetrics;
}

const MAX_ID_LENGTH = 256;
/** Takeovers of an Idempotency-Key's unopened reply in a row, at most, before a POST gets `503`. */
const MAX_TAKEOVERS = 3;
/**
 * The claim that confirms reply `id` as the holder of claim `name` (see `start`): the name a
 * takeover of an unconfirmed holder claims too.
 */
const confirmationOf = (name: string, id: string): string => `${name}\n${id}`;
/** A chat id: what a client's chat library generates (a nanoid, a UUID), bounded. */
const CHAT_ID = /^[^\x00-\x1f\x7f]{1,256}$/;

/**
 * Creates the replies of one instance: `start` for the POST route, `handler` for the reply URLs.
 *
 * @example A Next.js App Router chat whose replies survive a reload (one process; instances that
 * share a broker share replies):
 * ```ts
 * // app/api/chat/route.ts
 * import { createReplies } from 'ssekit/replies';
 * export const replies = createReplies({ basePath: '/api/replies/' });
 *
 * export async function POST(request: Request) {
 *   const { prompt } = await request.json();
 *   return replies.start(request, async ({ send, signal }) => {
 *     for await (const token of model.stream(prompt, { signal })) await send(token);
 *   });
 * }
 *
 * // app/api/replies/[id]/route.ts: GET resumes (Last-Event-ID), DELETE stops
 * export const GET = (request: Request) => replies.handler(request);
 * export const DELETE = GET;
 * ```
 */
export function createReplies(options: RepliesOptions = {}): Replies {
  const o = resolveOptions(options);
  const ownsBroker = options.broker === undefined;
  const log = logBounds(o.topicPrefix, o.maxEventsPerReply, o.maxBytesPerReply);
  const broker: Broker =
    options.broker ??
    createMemoryBroker({
      // A whole log per topic, markers included (logBounds); no age bound: a reply is dropped
      // by `expire` after its retention.
      history: {
        maxEvents: log.events,
        maxBytes: log.bytes,
        maxAge: Number.POSITIVE_INFINITY,
        // Above what the store lets this instance keep (`maxStoredBytes`, counted as the broker
        // counts, and running replies, which it cannot drop, up to a whole log each): the store
        // drops finished replies before the broker would trim a log it still answers for.
        maxTotalBytes: o.maxStoredBytes + o.maxRunning * log.bytes,
      },
      // Three topics a reply, and one for the chat it answers in (if any).
      maxTopics: 4 * (Math.ceil(o.maxStoredBytes / REPLY_OVERHEAD) + o.maxRunning),
    });
  if (!broker.isValidId(LOG_START)) {
    throw new TypeError(
      'replies need a broker whose ids are stream ids (<ms>-<seq>), as the built-in brokers have',
    );
  }
  const compare = broker.compareIds;
  const now = Date.now;
  const onError = o.onError;
  const retryAfter = retryAfterHeader(o.retryAfter);
  const headers = new Headers(options.headers);
  // The same, as pairs without a Content-Location: a response that names its reply adds its own
  // to them, with no Headers built and copied for it (Set-Cookie pairs stay apart).
  const headerPairs = [...headers].filter(([name]) => name !== 'content-location');

  let closing = false;
  let closed: Promise<void> | undefined;
  const running = new Map<string, Run>();
  const watches = new Map<string, ReplyWatch>();
  // The watch each reply running here holds for its life (see start).
  const held = new Map<string, ReplyWatch>();
  let readersOpen = 0;
  let whenIdle: (() => void)[] = [];
  const counters = { started: 0, joined: 0, resumed: 0, handoffs: 0 };
  const ended: Record<EndReason, number> = {
    done: 0,
    failed: 0,
    stopped: 0,
    'producer-lost': 0,
    'too-large': 0,
    idle: 0,
    shutdown: 0,
    expired: 0,
  };
  const rejected: Record<string, number> = {};

  const feed = createFeed(broker, onError, () => closing);

  const refuse = (status: number, message: string, extra?: Record<string, string>): Response => {
    rejected[status] = (rejected[status] ?? 0) + 1;
    return plain(status, message, extra);
  };
  const unavailable = (message: string): Response => refuse(503, message, { 'retry-after': retryAfter });
  /** The answer an authorization refuses with, or the verdict when it allows. */
  const authorized = async (
    request: Request,
    action: ReplyAction,
    id: string | undefined,
  ): Promise<Response | AuthorizeResult> => {
    if (options.authorize === undefined) return true;
    const result = await options.authorize({ request, action, id });
    const refusal = refusalOf(result);
    if (refusal !== undefined) {
      return refuse(refusal.status, refusal.status === 401 ? 'unauthorized' : 'forbidden', refusal.headers);
    }
    return result;
  };
  const expiresAtOf = (result: AuthorizeResult): number | undefined =>
    typeof result === 'object' && result !== null ? result.expiresAt : undefined;
  /** Credentials that expired already are no credentials (as the hub answers them). */
  const stale = (expiresAt: number | undefined): Response | undefined =>
    expiresAt !== undefined && expiresAt <= now()
      ? refuse(401, 'unauthorized', { 'www-authenticate': 'Bearer error="invalid_token"' })
      : undefined;

  const urlOf = (id: string): string => `${o.basePath}${id}`;
  const expired = (endId: string): boolean => {
    const time = timeOfId(endId);
    return time !== undefined && now() - time >= o.retention;
  };

  // ---- the producer's side -----------------------------------------------------------------

  const store = createStore({
    broker,
    maxStoredBytes: o.maxStoredBytes,
    retention: o.retention,
    idempotencyTtl: o.idempotencyTtl,
    topicPrefix: o.topicPrefix,
    now,
    onError,
  });

  const runOptions: RunOptions = {
    broker,
    feed,
    maxEvents: o.maxEventsPerReply,
    maxBytes: o.maxBytesPerReply,
    stopGrace: o.stopGrace,
    producerHeartbeat: o.producerHeartbeat,
    now,
    onError,
    onBytes: (run, bytes) => store.grow(run.stored, bytes),
    eventOverhead: logEventOverhead(o.topicPrefix),
    onEnd(run) {
      running.delete(run.id);
      const watch = held.get(run.id);
      if (watch !== undefined) {
        held.delete(run.id);
        releaseWatch(watch);
      }
      const local = watches.get(run.id);
      if (local?.local === true) {
        // Nothing feeds it any more: later readers get a watch that follows the broker's feed.
        watches.delete(run.id);
        // Its readers got the end, unless the broker did not take it: those resume elsewhere.
        if (local.end === null) for (const reader of [...local.readers]) reader.cut();
      }
      if (run.ended !== null) ended[run.ended]++;
      store.ended(run.id, run.topics);
      if (running.size === 0 && whenIdle.length > 0) {
        const waiting = whenIdle;
        whenIdle = [];
        for (const resolve of waiting) resolve();
      }
    },
  };

  // ---- the reading side --------------------------------------------------------------------

  const endEvents = o.endEvents;
  const readerOptions: ReaderOptions = {
    broker,
    feed,
    pageSize: o.pageSize,
    maxHeldBytes: o.maxQueuedBytes,
    retry: o.retry,
    now,
    onError,
    endWire:
      endEvents === undefined
        ? undefined
        : (id, reason) => {
            const events = endEvents(reason);
            let text = '';
            for (let i = 0; i < events.length; i++) {
              const item = events[i] as ReplyEvent;
              const event = typeof item === 'string' ? { data: item } : item;
              text += encodeEvent(i === events.length - 1 ? { ...event, id } : event);
            }
            // Nothing to send: the id alone, so that a resume with it still gets 204.
            return text === '' ? encodeEvent({ id }) : text;
          },
  };

  // ---- chats -------------------------------------------------------------------------------

  const chatTopicOf = (chatId: string): string => `${o.topicPrefix}chat/${chatId}`;
  /** The chat's active reply: the data of the last open marker on its topic. */
  const activeReplyOf = async (chatId: string): Promise<string | undefined> => {
    const topic = chatTopicOf(chatId);
    let active: string | undefined;
    let after = LOG_START;
    for (;;) {
      const page = await broker.history([topic], after, { limit: o.pageSize });
      for (const event of page.events) {
        if (event.event === OPEN_MARK && REPLY_ID.test(event.data)) active = event.data;
      }
      const last = page.events[page.events.length - 1];
      if (!page.more || last === undefined) return active;
      after = last.id;
    }
  };

  const acquireWatch = (id: string): ReplyWatch => {
    let watch = watches.get(id);
    if (watch === undefined) {
      // A producer running here is known alive without its heartbeats (upkeep.ts).
      watch = new ReplyWatch(id, topicsOf(o.topicPrefix, id), feed, now, running.get(id));
      watches.set(id, watch);
    }
    watch.refs++;
    return watch;
  };
  const releaseWatch = (watch: ReplyWatch): void => {
    if (--watch.refs > 0) return;
    watch.following.release();
    if (watches.get(watch.id) === watch) watches.delete(watch.id);
  };

  interface Open {
    readonly lastEventId?: string;
    readonly contentLocation?: string;
    /** The reply was just opened here: no need to read its state. */
    readonly fresh?: boolean;
    /** Joining by Idempotency-Key: the claimer may not have opened the log yet. */
    readonly joining?: boolean;
    /**
     * Joining a claim not confirmed: what answers the POST when its log never opens, or ended as
     * `producer-lost` (a takeover of the claim, which finds whether it was confirmed after all).
     */
    readonly unopened?: () => Promise<Response>;
    readonly expiresAt?: number | undefined;
    /** Only while it runs: `204` for a reply that has ended or is unknown (a chat's stream URL). */
    readonly running?: boolean;
  }

  const openReader = async (request: Request, id: string, open: Open): Promise<Response> => {
    if (readersOpen >= o.maxReaders) return unavailable('too many responses open');
    const watch = acquireWatch(id);
    const { lastEventId } = open;
    // The log's first page after the client's id, asked for beside the reply's state: one round
    // trip to the broker (two concurrent reads; on Redis, on one connection, they go out together)
    // instead of the state's and then the replay's. Read after the watch follows the log, and
    // what the watch gets live meanwhile is kept for the reader (reader.ts, FirstPage).
    let first: FirstPage | undefined;
    try {
      await watch.following.ready;
      if (open.fresh !== true) {
        const firstPage = new FirstPage(o.maxQueuedBytes);
        first = firstPage;
        watch.firstPages.add(firstPage);
        const page = broker
          .history([watch.topics.log], lastEventId ?? LOG_START, { limit: o.pageSize })
          // The reader reads it again, and reports what fails then.
          .catch(() => undefined);
        const state = await readState(broker, watch.topics, o.pageSize);
        firstPage.page = await page;
        if (!state.exists && open.joining === true) {
          // Opened after the page was read: the reader reads the log itself.
          firstPage.page = undefined;
          state.exists = await watch.whenOpened(o.producerLostAfter);
        }
        // A claim not confirmed whose reply never opened, or was given up as lost (its instance
        // died between open and confirmation): it may never have produced; the claim says.
        if (open.unopened !== undefined && (!state.exists || state.end?.reason === 'producer-lost')) {
          releaseWatch(watch);
          return open.unopened();
        }
        if (open.running === true && (!state.exists || state.end !== null)) {
          releaseWatch(watch);
          return new Response(null, { status: 204 });
        }
        if (!state.exists || (state.end !== null && expired(state.end.id))) {
          releaseWatch(watch);
          return refuse(404, 'no such reply (unknown, or expired)');
        }
        if (lastEventId !== undefined && compare(lastEventId, state.head) > 0) {
          // Never assigned (forged, or from a clock that went back): resuming from it would skip.
          releaseWatch(watch);
          return refuse(400, 'Last-Event-ID is not an id of this reply');
        }
        if (state.end !== null) {
          if (watch.end === null) watch.end = state.end;
          if (lastEventId !== undefined && compare(lastEventId, state.end.id) >= 0) {
            // The client has the end: `204` makes EventSource and connect() stop (WHATWG HTML §9.2.3).
            releaseWatch(watch);
            return new Response(null, { status: 204 });
          }
        }
      }
    } catch (error) {
      releaseWatch(watch);
      onError(error);
      return unavailable('the event store is unavailable');
    } finally {
      // From here to the reader joining the watch nothing awaits: no live event lands unseen.
      if (first !== undefined) watch.firstPages.delete(first);
    }
    if (closing || readersOpen >= o.maxReaders) {
      releaseWatch(watch);
      return unavailable(closing ? 'shutting down' : 'too many responses open');
    }
    const init: HeadersInit =
      open.contentLocation === undefined
        ? headers
        : [...headerPairs, ['content-location', open.contentLocation]];
    const handle = openEventStream({
      heartbeat: o.heartbeat,
      // Room for one whole event past the bound: an event is never cut, and one as large as a
      // log may be must still get through (else its client would reconnect for ever).
      maxQueuedBytes: o.maxQueuedBytes + o.maxBytesPerReply + 1024,
      highWaterMark: Math.min(64 * 1024, o.maxQueuedBytes),
      signal: request.signal,
      headers: init,
    });
    readersOpen++;
    const run = running.get(id);
    if (run !== undefined) run.readersHere++;
    // A reply just started here with nothing in its log past the open marker yet: its reader
    // follows live from the marker, with no history to read (decided here, with no await
    // between this and the reader joining the watch, so nothing can land unseen in between).
    const live = open.fresh === true && run?.quiet === true ? run.openId : undefined;
    const reader = new Reader(watch, handle, live ?? lastEventId ?? LOG_START, readerOptions, () => {
      readersOpen--;
      const producing = running.get(id);
      if (producing !== undefined && producing === run) {
        producing.readersHere--;
        producing.lastRead = now();
      }
      releaseWatch(watch);
    });
    if (o.maxDuration !== false) reader.cutAfter(o.maxDuration, () => counters.handoffs++);
    if (open.expiresAt !== undefined) reader.cutAfter(open.expiresAt - now());
    if (live !== undefined) reader.follow();
    else reader.start(first);
    return handle.stream.response;
  };

  // ---- requests ----------------------------------------------------------------------------

  const start = async (
    request: Request,
    produce: Produce,
    startOptions: StartOptions = {},
  ): Promise<Response> => {
    if (typeof produce !== 'function') throw new TypeError('start needs a produce function');
    const chatId = startOptions.chatId;
    if (chatId !== undefined && (typeof chatId !== 'string' || !CHAT_ID.test(chatId))) {
      throw new RangeError('chatId must be 1 to 256 characters, none of them a control character');
    }
    if (closing) return unavailable('shutting down');
    let key: string | null | undefined;
    if (startOptions.idempotencyKey !== undefined) {
      key = idempotencyKeyOf(
        new Request('http://x/', { headers: { 'idempotency-key': startOptions.idempotencyKey } }),
        o.maxIdempotencyKeyLength,
      );
      if (key === null)
        throw new RangeError(
          'idempotencyKey must be 1 to maxIdempotencyKeyLength printable ASCII characters',
        );
    } else {
      key = idempotencyKeyOf(request, o.maxIdempotencyKeyLength);
      if (key === null) return refuse(400, 'invalid Idempotency-Key');
    }
    const verdict = await authorized(request, 'start', undefined);
    if (verdict instanceof Response) return verdict;
    const expiresAt = expiresAtOf(verdict);
    const expiredCredentials = stale(expiresAt);
    if (expiredCredentials !== undefined) return expiredCredentials;
    if (closing) return unavailable('shutting down');
    if (running.size >= o.maxRunning) return unavailable('too many replies running');
    if (!store.makeRoom()) return unavailable('too many replies kept');

    const id = newReplyId();
    const url = urlOf(id);
    // Reserved now (the capacity check above stays true across the awaits below).
    const run = new Run(id, url, topicsOf(o.topicPrefix, id), runOptions);
    running.set(id, run);
    /**
     * The reply `holder`, which holds the claim `name`, answers this POST: joined. `takeOver`:
     * the claim is not confirmed, so should its log not open within `producerLostAfter` (the
     * claimer died or its broker failed first), nothing of it was produced, and this POST claims
     * the key anew (see `claimFor`).
     */
    const join = async (
      holder: string,
      name: string,
      takeOver: boolean,
      depth: number,
    ): Promise<Response> => {
      if (!REPLY_ID.test(holder)) return unavailable('the event store is unavailable');
      const joinVerdict = await authorized(request, 'read', holder);
      if (joinVerdict instanceof Response) return joinVerdict;
      const joinExpiresAt = expiresAtOf(joinVerdict) ?? expiresAt;
      const expiredJoin = stale(joinExpiresAt);
      if (expiredJoin !== undefined) return expiredJoin;
      // A client that reconnects by POSTing again (connect() does) says where it was: it
      // gets what follows, or 204 once it has the end, as on the reply's URL.
      const lastEventId = resumePointOf(request, MAX_ID_LENGTH);
      if (lastEventId === null || (lastEventId !== undefined && !broker.isValidId(lastEventId))) {
        return refuse(400, 'invalid Last-Event-ID');
      }
      counters.joined++;
      return openReader(request, holder, {
        lastEventId,
        contentLocation: urlOf(holder),
        joining: takeOver,
        expiresAt: joinExpiresAt,
        unopened: takeOver
          ? async () => {
              counters.joined--;
              return claimFor(confirmationOf(name, holder), depth + 1);
            }
          : undefined,
      });
    };
    /**
     * Claims `name` for this reply, and starts it or joins the reply that holds it. A reply
     * claimed by its key produces only once it has also claimed `name` + its id (after its log
     * opened): confirmed. A POST that finds the key's reply unopened after `producerLostAfter`
     * claims that same name: when it gets it, the claimer never confirmed (it died, or its broker
     * failed, before it opened), so nothing of it was produced, and this reply is the key's one
     * instead (confirmed in turn before it produces); a claimer that opens late then finds the
     * name taken, ends its log unproduced and joins it. A confirmed reply is never taken over:
     * once its log is gone, a POST with its key is `404`, never a second run.
     */
    const claimFor = async (name: string, depth: number): Promise<Response> => {
      if (depth > MAX_TAKEOVERS) {
        running.delete(id);
        return unavailable('the event store is unavailable');
      }
      let holder: string;
      try {
        holder = await store.claim(name, id);
      } catch (error) {
        running.delete(id);
        onError(error);
        return unavailable('the event store is unavailable');
      }
      if (holder !== id) {
        running.delete(id);
        // The name is the holder's confirmation (a takeover found it confirmed), or its claim.
        return join(holder, name, !name.endsWith(confirmationOf('', holder)), depth);
      }
      if (running.get(id) !== run) {
        // Taking over: the capacity is checked again.
        if (closing) return unavailable('shutting down');
        if (running.size >= o.maxRunning) return unavailable('too many replies running');
        running.set(id, run);
      }
      return begin(name, depth);
    };
    /** Opens the reply (claimed as `name`, when it has a key) and starts its producer. */
    const begin = async (name?: string, depth = 0): Promise<Response> => {
      let before: string | undefined;
      try {
        if (chatId !== undefined) before = await activeReplyOf(chatId);
        await run.open(chatId === undefined ? undefined : chatTopicOf(chatId));
      } catch (error) {
        running.delete(id);
        onError(error);
        return unavailable('the event store is unavailable');
      }
      if (name !== undefined) {
        const confirm = confirmationOf(name, id);
        let holder: string;
        try {
          holder = await store.claim(confirm, id);
        } catch (error) {
          onError(error);
          void run.stop('failed');
          return unavailable('the event store is unavailable');
        }
        if (holder !== id) {
          // Taken over while this reply opened: that one is the key's reply.
          void run.stop('producer-lost');
          return join(holder, confirm, true, depth + 1);
        }
        // Stopped while it confirmed (a DELETE, `stop()`, a shutdown): its producer never runs,
        // and the POST gets the log as it is, its end included.
        if (run.ended !== null) return openReader(request, id, { contentLocation: url, expiresAt });
      }
      if (chatId !== undefined) {
        broker.expire?.([chatTopicOf(chatId)], o.idempotencyTtl).catch(onError);
        // One active reply a chat: the one before is stopped (in the background: it may run on
        // another instance, whose confirmation this POST need not wait for).
        if (before !== undefined) {
          stopReply(topicsOf(o.topicPrefix, before), stopOptions).catch(onError);
        }
      }
      run.stored = store.add(id, run.topics);
      counters.started++;
      // The log stays followed here while the reply runs, readers or not: a client that reconnects
      // to this instance is served without following it again (on Redis, a follow waits for the
      // feed's next read, behind every other follow).
      held.set(id, acquireWatch(id));
      const done = run.start(produce);
      startOptions.waitUntil?.(done);
      return openReader(request, id, { contentLocation: url, fresh: true, expiresAt });
    };
    return key === undefined ? begin() : claimFor(key, 0);
  };

  /**
   * What a GET of reply `id` asks, once checked: its resume point (`Last-Event-ID`) and when the
   * reader's credentials expire; or the response that refuses it (a bad id, not authorized).
   */
  const readRequest = async (
    request: Request,
    id: string,
  ): Promise<Response | { lastEventId: string | undefined; expiresAt: number | undefined }> => {
    const lastEventId = resumePointOf(request, MAX_ID_LENGTH);
    if (lastEventId === null || (lastEventId !== undefined && !broker.isValidId(lastEventId))) {
      return refuse(400, 'invalid Last-Event-ID');
    }
    const verdict = await authorized(request, 'read', id);
    if (verdict instanceof Response) return verdict;
    const expiresAt = expiresAtOf(verdict);
    const expiredCredentials = stale(expiresAt);
    if (expiredCredentials !== undefined) return expiredCredentials;
    if (lastEventId !== undefined) counters.resumed++;
    return { lastEventId, expiresAt };
  };

  const read = async (request: Request, id: string): Promise<Response> => {
    const asked = await readRequest(request, id);
    return asked instanceof Response ? asked : openReader(request, id, asked);
  };

  const stopOptions = {
    broker,
    feed,
    pageSize: o.pageSize,
    stopTimeout: o.stopTimeout,
    expired,
  };

  const remove = async (request: Request, id: string): Promise<Response> => {
    const verdict = await authorized(request, 'stop', id);
    if (verdict instanceof Response) return verdict;
    let result: Awaited<ReturnType<typeof stopReply>>;
    try {
      result = await stopReply(topicsOf(o.topicPrefix, id), stopOptions);
    } catch (error) {
      onError(error);
      return unavailable('the event store is unavailable');
    }
    return result === 'unknown'
      ? refuse(404, 'no such reply (unknown, or expired)')
      : new Response(null, { status: 204 });
  };

  const chatHandler = async (request: Request, chatId: string): Promise<Response> => {
    const method = request.method;
    if (method !== 'GET' && method !== 'DELETE')
      return refuse(405, 'method not allowed', { allow: 'GET, DELETE' });
    if (closing) return unavailable('shutting down');
    if (typeof chatId !== 'string' || !CHAT_ID.test(chatId)) return refuse(404, 'no such chat');
    let id: string | undefined;
    try {
      id = await activeReplyOf(chatId);
    } catch (error) {
      onError(error);
      return unavailable('the event store is unavailable');
    }
    if (method === 'DELETE') {
      return id === undefined ? refuse(404, 'no reply in this chat') : remove(request, id);
    }
    // The AI SDK's transports read 204 as "no active stream" (and an error status as an error).
    if (id === undefined) return new Response(null, { status: 204 });
    const asked = await readRequest(request, id);
    if (asked instanceof Response) return asked;
    const { lastEventId, expiresAt } = asked;
    // With a Last-Event-ID the client has part of this reply: it gets the rest even when the
    // reply has ended meanwhile (204 once it has the end). Without one, only a running reply is
    // served: a finished one is the app's to show from its own storage, as the AI SDK's guide does.
    return openReader(request, id, { lastEventId, expiresAt, running: lastEventId === undefined });
  };

  const handler = async (request: Request): Promise<Response> => {
    const method = request.method;
    if (method !== 'GET' && method !== 'DELETE')
      return refuse(405, 'method not allowed', { allow: 'GET, DELETE' });
    if (closing) return unavailable('shutting down');
    const id = replyIdOf(request.url);
    if (id === undefined) return refuse(404, 'no such reply');
    return method === 'GET' ? read(request, id) : remove(request, id);
  };

  const upkeep = createUpkeep({
    broker,
    running,
    watches,
    store,
    producerHeartbeat: o.producerHeartbeat,
    producerLostAfter: o.producerLostAfter,
    idleStopAfter: o.idleStopAfter,
    now,
    onError,
    onLost: () => ended['producer-lost']++,
  });

  const shutdown = async (timeout: number): Promise<void> => {
    closing = true;
    if (running.size > 0) {
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => whenIdle.push(resolve)),
        new Promise<void>((resolve) => {
          wait = setTimeout(resolve, timeout);
        }),
      ]);
      clearTimeout(wait);
    }
    await Promise.all([...running.values()].map((run) => run.stop('shutdown')));
    for (const watch of [...watches.values()]) for (const reader of [...watch.readers]) reader.cut();
    upkeep.stop();
    await feed.close();
    if (ownsBroker) await broker.close();
  };

  return {
    start,
    handler,
    chatHandler,
    async stop(id) {
      if (typeof id !== 'string' || !REPLY_ID.test(id)) return false;
      return (await stopReply(topicsOf(o.topicPrefix, id), stopOptions)) === 'stopped';
    },
    close(closeOptions = {}) {
      const timeout = checkNumber('timeout', closeOptions.timeout ?? 5000, { min: 0 });
      closed ??= shutdown(timeout);
      return closed;
    },
    metrics() {
      return {
        ...counters,
        running: running.size,
        readers: readersOpen,
        storedBytes: store.totalBytes(),
        ended: { ...ended },
        rejected: { ...rejected },
      };
    },
  };
}
