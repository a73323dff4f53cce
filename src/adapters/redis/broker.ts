/**
 * A hub {@link Broker} on Redis Streams: hubs on many processes and machines share topics,
 * history and resume. Every topic is a stream; the stream entry id is the SSE event id, so a
 * Last-Event-ID handed out by one instance resumes on any other (WHATWG HTML §9.2.4: the client
 * sends it back in the `Last-Event-ID` header when it reconnects).
 *
 * Three connections per broker: one for commands (publish, history, bookkeeping), one that reads
 * the live feed (`XREAD` of the streams that have news), and one subscribed on Pub/Sub to the
 * streams of the topics this process follows: the publish script names every stream it writes
 * to there, with the id. That is how the feed knows which streams to read, so a read names a
 * few streams, not every one followed (a process following a thousand replies' streams would
 * otherwise send and parse a thousand names per read). Pub/Sub only rings the bell: the events
 * come from the streams, with their ids, in id order, so a lost notification (a dropped
 * connection) costs a catch-up read, never an event. That one feed serves every local
 * subscriber; the hub fans out.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type {
  Broker,
  BrokerEvent,
  BrokerEventInit,
  BrokerFeed,
  BrokerListener,
  HistoryPage,
} from '../../hub/broker.js';
import { BrokerError, isBrokerError } from '../../hub/errors.js';
import { checkByteBound, DEFAULT_HISTORY_MAX_BYTES, mergeById } from '../../hub/history.js';
import { compareStreamIds, isStreamId } from '../../hub/ids.js';
import { checkNumber } from '../../server/options.js';
import { EXPIRE_SCRIPT, HEAD_SCRIPT, HISTORY_SCRIPT, PUBLISH_SCRIPT } from './scripts.js';
import { redactUrl } from './url.js';

/** Options of {@link createRedisBroker}. */
export interface RedisBrokerOptions {
  /** `redis://` or `rediss://` URL. Default `process.env.REDIS_URL` or `redis://127.0.0.1:6379`. */
  url?: string;
  /** More ioredis options (TLS, auth, ...). The broker sets its own reconnect and queue policy. */
  redis?: RedisOptions;
  /**
   * Prefix of every key. Instances that share topics must use the same prefix. The default
   * keeps all keys in one Redis Cluster hash slot (a multi-topic publish is one script).
   * Default `'{ssekit}:'`.
   */
  prefix?: string;
  /**
   * Most entries each topic stream keeps. The oldest are trimmed first, in batches: past the
   * bound a stream goes to 1/16 below it (at most 64 entries below), so most publishes trim
   * nothing. Default 10,000.
   */
  maxLen?: number;
  /**
   * Most bytes each topic stream keeps, counted per entry as the UTF-8 bytes of its data, event
   * type, topics (as JSON) and id, plus 128 (see `HISTORY_EVENT_OVERHEAD_BYTES`). The oldest
   * entries are trimmed first, in batches as for `maxLen` (to 1/16 below the bound); the newest is
   * always kept, even alone over the bound, because the live feed reads it from the stream. Default 8 MiB (`DEFAULT_HISTORY_MAX_BYTES`); `Infinity`
   * bounds by `maxLen` alone. There is no bound across streams: size Redis for topics x
   * `maxBytes`, and see docs/scaling-with-redis.md for `maxmemory`.
   */
  maxBytes?: number;
  /** Most entries per stream in one read of the live feed (bounds the reader's memory). Default 1,000. */
  readCount?: number;
  /** A command that has no answer within this many ms fails. Default 5,000. */
  commandTimeout?: number;
  /** Longest wait between reconnect attempts, ms (backoff doubles from 50 ms). Default 2,000. */
  maxBackoff?: number;
  /**
   * Where connection trouble the broker recovers from by itself is reported (once per outage).
   * Default `console.error`.
   */
  onError?: (error: unknown) => void;
}

/** What {@link createRedisBroker} returns: a {@link Broker}, plus the Redis specifics. */
export interface RedisBroker extends Broker {
  /** Resolves once both connections are ready (the broker also connects on its own). */
  ready(): Promise<void>;
  /**
   * Redis `CLIENT ID`s of the broker's connections (command, feed reader, and the Pub/Sub
   * connection that tells the feed which streams to read), for operators and tests.
   */
  clientIds(): Promise<{ command: number; reader: number; bell: number }>;
  /** Deletes every key under the prefix. For tests and teardown, not for production use. */
  destroyAll(): Promise<void>;
}

interface Cursor {
  /** Last id read (or skipped) on this topic's stream. */
  id: string;
}

type StreamEntry = [id: string, fields: string[]];
type XReadReply = [key: string, entries: StreamEntry[]][] | null;

/**
 * Creates a {@link Broker} on Redis Streams. Needs Redis 7 or later and the `ioredis` package
 * (an optional peer dependency of ssekit).
 *
 * - Publishing is one Lua script: one id from a shared sequence, the same id on every topic.
 * - Each topic stream keeps at most `maxLen` entries and `maxBytes` bytes, trimmed in the same
 *   script, oldest first.
 * - History reads the topic streams (`XRANGE`, exclusive start) and reports `truncated` when
 *   entries after the asked id were trimmed.
 * - The live feed is one `XREAD` per process of the streams that have news, rung by Pub/Sub.
 * - When a connection drops, it reconnects with backoff and the feed catches up from the last id
 *   it read, so hub subscribers stay connected through a short outage. If entries the feed had
 *   not read yet were trimmed (during an outage, or because the feed fell behind by more than a
 *   stream keeps), or Redis came back without its data (restarted without persistence, or
 *   flushed: a token kept under the prefix is gone), the hub is told (and its clients resume
 *   with a reset). A publish while Redis is unreachable rejects with a `BrokerError` of type
 *   `publish-failed`.
 *
 * @example
 * ```ts
 * import { createHub } from 'ssekit/hub';
 * import { createRedisBroker } from 'ssekit/redis';
 *
 * const broker = createRedisBroker({ url: 'redis://127.0.0.1:6379', maxLen: 50_000 });
 * const hub = createHub({ broker });
 * // ... mount hub.handler; every instance with the same Redis and prefix shares the topics.
 * ```
 */
export function createRedisBroker(options: RedisBrokerOptions = {}): RedisBroker {
  const prefix = options.prefix ?? '{ssekit}:';
  const maxLen = positiveInt('maxLen', options.maxLen ?? 10_000);
  const maxBytes = options.maxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
  checkByteBound('maxBytes', maxBytes);
  const readCount = positiveInt('readCount', options.readCount ?? 1000);
  const commandTimeout = positiveInt('commandTimeout', options.commandTimeout ?? 5000);
  const maxBackoff = positiveInt('maxBackoff', options.maxBackoff ?? 2000);
  const report = options.onError ?? ((error: unknown) => console.error('ssekit redis broker:', error));
  const url = options.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

  const seqKey = `${prefix}seq`;
  const topicKey = (topic: string): string => `${prefix}t:${topic}`;
  // The stream's log of entries and their bytes (see scripts.ts).
  const logKey = (topic: string): string => `${prefix}l:${topic}`;
  const claimKey = (name: string): string => `${prefix}c:${name}`;
  const topicPrefix = topicKey('');

  const backoff = (attempt: number): number =>
    Math.min(maxBackoff, 50 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5);

  const base: RedisOptions = {
    ...options.redis,
    // A publish during an outage must fail, not wait in a queue the publisher cannot see.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    retryStrategy: (times) => backoff(times),
    lazyConnect: true,
  };
  const command = new Redis(url, { ...base, connectionName: 'ssekit:command' });
  // The live feed's reads, on a connection of their own: `XREAD` without `BLOCK` (the bell below
  // says which streams have news).
  const reader = new Redis(url, { ...base, connectionName: 'ssekit:reader' });
  // Subscribed to the streams of the followed topics (Pub/Sub: it can do nothing else).
  const bellName = `ssekit:bell:${randomToken()}`;
  const bell = new Redis(url, { ...base, commandTimeout: undefined, connectionName: bellName });
  // The last connection error, for `ready()` to say why (ioredis's own rejection says only
  // "Connection is closed.").
  let lastConnectError: unknown;
  for (const connection of [command, reader, bell]) {
    // ioredis emits 'error' on every failed connect; the broker reports through `onError`.
    connection.on('error', (error: unknown) => {
      lastConnectError = error;
    });
  }
  /** A `BrokerError` that names the server (never its password) and the cause. */
  const unreachable = (error: unknown): BrokerError => {
    const cause = lastConnectError ?? error;
    const why = cause instanceof Error ? cause.message : String(cause);
    return new BrokerError('unreachable', `cannot reach Redis at ${redactUrl(url)} (${why})`, { cause });
  };
  command.defineCommand('ssekitPublish', { lua: PUBLISH_SCRIPT });
  command.defineCommand('ssekitHistory', { lua: HISTORY_SCRIPT });
  command.defineCommand('ssekitHead', { lua: HEAD_SCRIPT });
  command.defineCommand('ssekitExpire', { lua: EXPIRE_SCRIPT });
  type Scripted = Redis & {
    ssekitPublish(n: number, ...args: string[]): Promise<string[]>;
    ssekitHistory(n: number, ...args: string[]): Promise<[string, ...[string, string, StreamEntry[]][]]>;
    ssekitHead(n: number, ...args: string[]): Promise<[string, ...[string, string][]]>;
    ssekitExpire(n: number, ...args: string[]): Promise<number>;
  };
  const scripted = command as Scripted;

  let closed = false;
  const connected = Promise.all([command.connect(), reader.connect(), bell.connect()]).then(() => undefined);
  // Keeps a failed first connect from counting as unhandled; callers see it through `ready()`,
  // and ioredis keeps retrying.
  connected.catch(() => {});

  // Calls waiting for a connection, told when the broker closes: ioredis emits no 'end' for a
  // connection closed while it waits to reconnect, and they would wait out `commandTimeout`.
  const waiting = new Set<() => void>();

  // The bell connection has no command timeout of its own (a subscriber waits for messages):
  // its subscribe and unsubscribe calls are bounded here, as every other call is by ioredis.
  const bellCall = <T>(call: Promise<T>): Promise<T> =>
    withTimeout(call, commandTimeout, () => new Error('no answer'));

  const whenReady = async (connection: Redis): Promise<void> => {
    if (connection.status === 'ready') return;
    if (closed) throw new BrokerError('closed', 'the broker is closed');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(unreachable(new Error(`not connected after ${commandTimeout} ms`)));
      }, commandTimeout);
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onEnd = (): void => {
        cleanup();
        reject(new BrokerError('closed', 'the Redis connection ended'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        connection.off('ready', onReady);
        connection.off('end', onEnd);
        waiting.delete(onEnd);
      };
      connection.on('ready', onReady);
      connection.on('end', onEnd);
      waiting.add(onEnd);
    });
  };

  const decode = (id: string, fields: string[]): BrokerEvent => {
    let data = '';
    let event: string | undefined;
    let topics: string[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1] as string;
      if (name === 'd') data = value;
      else if (name === 'e') event = value;
      else if (name === 't') topics = JSON.parse(value) as string[];
    }
    return { id, topics, event, data };
  };

  // ---- the one live feed ---------------------------------------------------------------------

  let listener: BrokerListener | null = null;
  const cursors = new Map<string, Cursor>();
  // Topics waiting to join the feed (subscribed already): they start after max(head when
  // asked, delivered).
  const pending = new Map<string, { head: string; resolve: () => void }>();
  // Ids at or below it were delivered or skipped: never again, so the feed stays in id order.
  let delivered = '0-0';
  // Followed topics with news (a notification since their last read), and the highest id
  // notified. Notifications come in id order (scripts run one at a time, each publishing in
  // order), so when a read starts, every event up to `notified` is in a stream of `hot`.
  const hot = new Set<string>();
  let notified = '0-0';
  let readerRunning = false;
  let readerStopped: Promise<void> = Promise.resolve();
  // The feed's loop waits here when it has nothing to read.
  let kickLoop: (() => void) | null = null;
  const kick = (): void => {
    const go = kickLoop;
    kickLoop = null;
    go?.();
  };
  // Set when the bell lost its connection (notifications were lost): the feed then reads every
  // followed stream up to the head once.
  let bellLost = false;
  let bellWasReady = false;

  bell.on('message', (channel: string, id: string) => {
    const topic = channel.slice(topicPrefix.length);
    if (!cursors.has(topic) && !pending.has(topic)) return;
    hot.add(topic);
    if (compareStreamIds(id, notified) > 0) notified = id;
    kick();
  });
  bell.on('ready', () => {
    // A reconnect (ioredis subscribes again by itself): what was published meanwhile rang no bell.
    if (bellWasReady) {
      bellLost = true;
      kick();
    }
    bellWasReady = true;
  });
  bell.on('close', () => {
    if (!bellWasReady || closed || listener === null) return;
    bellLost = true;
    // Said now, not once it is back: an outage may last.
    feedLost();
  });
  // One report per outage, however many of the feed's connections it took down: cleared once
  // a read succeeds with the bell up.
  let reported = false;
  const feedLost = (cause?: unknown): void => {
    if (reported) return;
    reported = true;
    report(new BrokerError('feed-failed', 'the Redis feed lost its connection; reconnecting', { cause }));
  };

  // A token of this Redis's data set, under the prefix: set by the first broker that asks, kept
  // as long as Redis keeps its data. A Redis restarted without persistence (or flushed) comes
  // back without it: everything it held is gone, and ids are no floor for that (a wiped stream
  // looks like one never trimmed).
  const epochKey = `${prefix}epoch`;
  let epoch: string | null | undefined;
  const readEpoch = async (): Promise<string | null> => {
    const mine = randomToken();
    try {
      const held = (await command.call('SET', epochKey, mine, 'NX', 'GET')) as string | null;
      return held ?? mine;
    } catch {
      // A full Redis (maxmemory, noeviction) refuses the SET: read what is there. Connection
      // trouble throws here again, and the feed retries.
      return command.get(epochKey);
    }
  };

  // After the feed lost a connection: the sequence's head, and whether Redis trimmed anything
  // the feed had not read yet.
  const checkGap = async (): Promise<{ head: string; gap: boolean }> => {
    const names = [...cursors.keys()];
    const [head, ...floors] = await scripted.ssekitHead(1 + names.length, seqKey, ...names.map(topicKey));
    for (let i = 0; i < names.length; i++) {
      const cursor = cursors.get(names[i] as string);
      if (cursor !== undefined && lostAfter(floors[i] as [string, string], cursor.id))
        return { head, gap: true };
    }
    return { head, gap: false };
  };

  const readLoop = async (): Promise<void> => {
    let failures = 0;
    let outage = false;
    const lost = (cause?: unknown): void => {
      outage = true;
      feedLost(cause);
    };
    while (!closed && listener !== null) {
      try {
        await whenReady(reader);
        if (epoch === undefined) {
          if (command.status !== 'ready') await whenReady(command);
          epoch = await readEpoch();
        }
        if (bellLost) {
          bellLost = false;
          await whenReady(bell);
          // Subscribed again before the head is read: every event after the head rings.
          const channels = [...cursors.keys(), ...pending.keys()].map(topicKey);
          // Bounded (bellCall): a subscription lost to yet another drop is tried again, and a
          // close is not held.
          if (channels.length > 0) {
            try {
              await bellCall(bell.subscribe(...channels));
            } catch (error) {
              bellLost = true;
              throw error;
            }
          }
          lost();
        }
        if (outage) {
          if (command.status !== 'ready') await whenReady(command);
          const current = await readEpoch();
          const wiped = epoch !== null && current !== epoch;
          epoch = current;
          if (wiped) {
            // Redis came back without its data: what the feed followed is gone, read or not.
            // The listener ends its subscribers (the hub's resume with a reset; replies end).
            listener.onError(
              new BrokerError(
                'feed-failed',
                'Redis lost its data (restarted without persistence, or flushed)',
              ),
            );
          }
          const { head, gap } = await checkGap();
          if (gap) {
            // The feed goes on from the head (what it missed is partly gone: the listener ends
            // its subscribers, who resume from history with a reset). It stays open, so topics
            // can still be followed afterwards.
            for (const cursor of cursors.values()) {
              if (compareStreamIds(head, cursor.id) > 0) cursor.id = head;
            }
            if (compareStreamIds(head, delivered) > 0) delivered = head;
            listener.onError(
              new BrokerError('feed-failed', 'Redis trimmed events the feed missed while disconnected'),
            );
          }
          // Notifications may have been lost: read every followed stream up to the head.
          if (compareStreamIds(head, notified) > 0) notified = head;
          for (const topic of cursors.keys()) hot.add(topic);
          outage = false;
        }
        // Topics join here, between two reads, so their start is at or after everything
        // delivered so far: nothing is delivered twice or out of order, and every event
        // published after the follow resolves is above the start.
        for (const [topic, entry] of pending) {
          const start = compareStreamIds(entry.head, delivered) > 0 ? entry.head : delivered;
          cursors.set(topic, { id: start });
          entry.resolve();
        }
        pending.clear();
        if (hot.size === 0) {
          await new Promise<void>((resolve) => {
            kickLoop = resolve;
          });
          continue;
        }
        const names: string[] = [];
        for (const topic of hot) if (cursors.has(topic)) names.push(topic);
        hot.clear();
        if (names.length === 0) continue;
        const upTo = notified;
        const keys = names.map(topicKey);
        const ids = names.map((name) => (cursors.get(name) as Cursor).id);
        let reply: XReadReply;
        try {
          reply = (await reader.xread('COUNT', readCount, 'STREAMS', ...keys, ...ids)) as XReadReply;
        } catch (error) {
          // Read again once the connection is back.
          for (const name of names) hot.add(name);
          throw error;
        }
        failures = 0;
        if (bell.status === 'ready' && !bellLost) reported = false;
        if (reply !== null && deliver(reply, names, keys, ids, upTo)) {
          // Let the listener's end-of-tick work (the hub's flush, a setImmediate) run before the
          // next read goes out. Sent earlier, its reply (the few events of the gap) queues behind
          // that flush, and what is published during the flush waits for the flush after: under
          // load, two flushes of latency instead of one (see bench:redis).
          await yieldToMacrotasks();
        }
      } catch (error) {
        if (closed || listener === null) return;
        lost(error);
        await sleep(backoff(failures++));
      }
    }
  };

  /**
   * Hands the events of one read to the listener, up to `upTo` (the highest id notified when the
   * read started: past it, a stream not read may hold an earlier event); true when there were
   * any. `keys[i]` was read after `ids[i]`.
   */
  const deliver = (
    reply: NonNullable<XReadReply>,
    names: readonly string[],
    keys: readonly string[],
    ids: readonly string[],
    upTo: string,
  ): boolean => {
    const lists: BrokerEvent[][] = [];
    // Entries this feed never read were trimmed: the first entry read from a stream names the
    // entry before it (`p`), which the feed must have read already.
    let gap = false;
    let at = 0;
    // A stream that returned a full COUNT may have more: only ids up to the lowest such last id
    // are known complete across all streams (XREAD runs atomically, so the rest are).
    let full: string | null = null;
    let highest = delivered;
    for (const [key, entries] of reply) {
      if (entries.length === 0) continue;
      // XREAD answers streams in the order they were asked: look on from the last one found.
      for (let n = 0; n < keys.length && keys[at] !== key; n++) at = (at + 1) % keys.length;
      const previous = fieldOf((entries[0] as StreamEntry)[1], 'p');
      const from = keys[at] === key ? ids[at] : undefined;
      if (previous !== undefined && from !== undefined && compareStreamIds(previous, from) > 0) gap = true;
      const list: BrokerEvent[] = [];
      for (const [id, fields] of entries) {
        if (compareStreamIds(id, delivered) > 0) list.push(decode(id, fields));
      }
      const lastId = (entries[entries.length - 1] as StreamEntry)[0];
      if (compareStreamIds(lastId, highest) > 0) highest = lastId;
      if (entries.length >= readCount) {
        // It has more: read it again.
        hot.add(key.slice(topicPrefix.length));
        if (full === null || compareStreamIds(lastId, full) < 0) full = lastId;
      }
      lists.push(list);
    }
    let limit = full ?? highest;
    if (compareStreamIds(limit, upTo) > 0) limit = upTo;
    if (full !== null) {
      // What lies past a full stream's last entry is held back, in every stream of this read.
      // An entry held back that has rung already (at or below `upTo`) rings no more: its stream
      // is read again now, with the full one. Else a later read of the full stream alone would
      // move `delivered` past that entry, and the read that finally reaches it would drop it as
      // delivered (the filter above). Entries past `upTo` are read when their bells come.
      for (const [key, entries] of reply) {
        for (const [id] of entries) {
          if (compareStreamIds(id, limit) <= 0) continue;
          if (compareStreamIds(id, upTo) <= 0) hot.add(key.slice(topicPrefix.length));
          break;
        }
      }
    }
    // Only the streams of this read: a topic that joined meanwhile keeps its own start.
    for (const name of names) {
      const cursor = cursors.get(name);
      if (cursor !== undefined && compareStreamIds(limit, cursor.id) > 0) cursor.id = limit;
    }
    if (compareStreamIds(limit, delivered) > 0) delivered = limit;
    const target = listener;
    if (target === null) return false;
    if (gap) {
      // Before the events after the gap: the hub ends its subscribers first, so none of them
      // gets an event after one it missed; they resume from history, with a reset. (When the
      // entry after the gap lies past `limit`, the next read may report it again: the hub then
      // ends the streams of the last few milliseconds once more, which costs a reconnect.)
      target.onError(new BrokerError('feed-failed', 'Redis trimmed events the feed had not read yet'));
    }
    let any = false;
    for (const event of mergeById(lists, compareStreamIds)) {
      if (compareStreamIds(event.id, limit) > 0) break;
      any = true;
      try {
        target.onEvent(event);
      } catch (error) {
        target.onError(new BrokerError('feed-failed', 'a feed listener threw', { cause: error }));
      }
    }
    return any;
  };

  const startReader = (): void => {
    if (readerRunning || closed || listener === null) return;
    readerRunning = true;
    readerStopped = readLoop().finally(() => {
      readerRunning = false;
    });
  };

  // ---- publishing, gathered ------------------------------------------------------------------

  // Publishes asked for in one turn of the event loop go to Redis as one script call, in the
  // order asked (so their ids are in that order, as one call each would have them): one round
  // trip and one command for the many tokens of many replies. A batch is sent early past
  // `BATCH_EVENTS` events or `BATCH_BYTES` bytes of data; batches go out in order on the one
  // command connection, so ids stay in call order across batches too.
  interface Pending {
    readonly topics: readonly string[];
    readonly init: BrokerEventInit;
    readonly resolve: (id: string) => void;
    readonly reject: (error: unknown) => void;
  }
  let batch: Pending[] = [];
  let batchBytes = 0;
  let scheduled = false;

  // What the publish script takes for a topic list: its stream and log keys, its JSON. A frozen
  // list cannot change, so it is encoded once (a reply passes the same one for all its events).
  interface EncodedTopics {
    readonly count: string;
    readonly json: string;
    readonly keys: readonly string[];
  }
  /** The topics' stream keys, then their byte-log keys (the publish script's order; expire takes the same keys). */
  const keysOf = (topics: readonly string[]): string[] => [...topics.map(topicKey), ...topics.map(logKey)];
  const encoded = new WeakMap<readonly string[], EncodedTopics>();
  const encodeTopics = (topics: readonly string[]): EncodedTopics => {
    const known = encoded.get(topics);
    if (known !== undefined) return known;
    const made = {
      count: String(topics.length),
      json: JSON.stringify(topics),
      keys: keysOf(topics),
    };
    if (Object.isFrozen(topics)) encoded.set(topics, made);
    return made;
  };

  const gather = (item: Pending): void => {
    batch.push(item);
    batchBytes += item.init.data.length;
    if (batch.length >= BATCH_EVENTS || batchBytes >= BATCH_BYTES) sendBatch();
    else if (!scheduled) {
      scheduled = true;
      afterThisTurn(sendBatch);
    }
  };

  const sendBatch = (): void => {
    scheduled = false;
    const items = batch;
    if (items.length === 0) return;
    batch = [];
    batchBytes = 0;
    const keys: string[] = [seqKey];
    const args: string[] = [String(maxLen), maxBytes === Number.POSITIVE_INFINITY ? '' : String(maxBytes)];
    for (const { topics, init } of items) {
      const { count, json, keys: topicKeys } = encodeTopics(topics);
      for (const key of topicKeys) keys.push(key);
      args.push(count, init.data, json, init.event === undefined ? '0' : '1', init.event ?? '');
    }
    const fail = (error: unknown): void => {
      const failure = new BrokerError('publish-failed', 'Redis did not take the event', { cause: error });
      for (const item of items) item.reject(failure);
    };
    // Waits out a short outage (at most `commandTimeout`), then fails clearly.
    const ready = command.status === 'ready' ? Promise.resolve() : whenReady(command);
    ready
      .then(() => scripted.ssekitPublish(keys.length, ...keys, ...args))
      .then((ids) => {
        for (let i = 0; i < items.length; i++) (items[i] as Pending).resolve(ids[i] as string);
      }, fail);
  };

  // ---- history reads, gathered ---------------------------------------------------------------

  // Reads asked for together (in one run of code and its microtasks: a reply's state and its
  // log's first page, asked at once when a client resumes) go to Redis as one script call: one
  // round trip, not one each. Sent once the microtasks queued so far have run, so a lone read
  // waits for no later turn of the event loop. At most `READS_PER_CALL` reads a call.
  interface Read {
    /** The topics' stream keys (taken when asked: the caller may reuse its array). */
    readonly keys: readonly string[];
    readonly afterId: string;
    readonly limit: number;
    /** `afterId` is a stream id (else the read asks for nothing and says truncated). */
    readonly valid: boolean;
    readonly resolve: (page: HistoryPage) => void;
    readonly reject: (error: unknown) => void;
  }
  let reads: Read[] = [];
  let readsScheduled = false;

  const sendReads = (): void => {
    readsScheduled = false;
    const items = reads;
    reads = [];
    for (let i = 0; i < items.length; i += READS_PER_CALL) void readPages(items.slice(i, i + READS_PER_CALL));
  };

  const readPages = async (items: readonly Read[]): Promise<void> => {
    const keys: string[] = [seqKey];
    const args: string[] = [];
    for (const { keys: streams, afterId, limit, valid } of items) {
      for (const key of streams) keys.push(key);
      // A bad id still needs the head (the reset event carries it): read from the top.
      args.push(String(streams.length), valid ? afterId : '0-0', String(valid ? limit + 1 : 0));
    }
    let reply: Awaited<ReturnType<Scripted['ssekitHistory']>>;
    try {
      if (command.status !== 'ready') await whenReady(command);
      reply = await scripted.ssekitHistory(keys.length, ...keys, ...args);
    } catch (error) {
      const failure = new BrokerError('history-failed', 'Redis did not answer the history read', {
        cause: error,
      });
      for (const item of items) item.reject(failure);
      return;
    }
    const [head, ...perTopic] = reply;
    let at = 0;
    for (const item of items) {
      const own = perTopic.slice(at, at + item.keys.length);
      at += item.keys.length;
      try {
        item.resolve(pageOf(item, head, own));
      } catch (error) {
        item.reject(error);
      }
    }
  };

  const pageOf = (
    { afterId, limit, valid }: Read,
    head: string,
    perTopic: readonly [string, string, StreamEntry[]][],
  ): HistoryPage => {
    if (!valid || compareStreamIds(afterId, head) > 0) {
      // Not an id this broker handed out (or from a Redis that lost its data): reset.
      return { events: [], more: false, truncated: true, head };
    }
    let truncated = false;
    const lists: BrokerEvent[][] = [];
    for (const [floor, deleted, entries] of perTopic) {
      if (lostAfter([floor, deleted], afterId)) truncated = true;
      lists.push(entries.map(([id, fields]) => decode(id, fields)));
    }
    const merged = mergeById(lists, compareStreamIds, limit + 1);
    const more = merged.length > limit;
    return { events: more ? merged.slice(0, limit) : merged, more, truncated, head };
  };

  // ---- the broker ----------------------------------------------------------------------------

  const broker: RedisBroker = {
    publish(topics, init: BrokerEventInit) {
      if (closed) return Promise.reject(new BrokerError('closed', 'the broker is closed'));
      if (topics.length === 0) return Promise.reject(new BrokerError('publish-failed', 'no topics'));
      return new Promise<string>((resolve, reject) => {
        gather({ topics, init, resolve, reject });
      });
    },

    history(topics, afterId, historyOptions = {}): Promise<HistoryPage> {
      if (closed) return Promise.reject(new BrokerError('closed', 'the broker is closed'));
      const limit = historyOptions.limit ?? 1000;
      const valid = isStreamId(afterId);
      return new Promise<HistoryPage>((resolve, reject) => {
        reads.push({ keys: topics.map(topicKey), afterId, limit, valid, resolve, reject });
        if (!readsScheduled) {
          readsScheduled = true;
          queueMicrotask(sendReads);
        }
      });
    },

    subscribe(feedListener): BrokerFeed {
      if (listener !== null) throw new BrokerError('feed-failed', 'this broker already has a feed');
      listener = feedListener;
      // Follows and unfollows apply in call order. Consecutive follows go together (one
      // SUBSCRIBE, one head read, one join): a thousand replies starting in a second would
      // otherwise wait in line for a thousand round trips each.
      interface Op {
        readonly follow: boolean;
        readonly topics: readonly string[];
        readonly resolve: () => void;
        readonly reject: (error: unknown) => void;
      }
      const ops: Op[] = [];
      let working = false;
      const work = async (): Promise<void> => {
        working = true;
        while (ops.length > 0) {
          const follow = (ops[0] as Op).follow;
          let n = 0;
          while (n < ops.length && (ops[n] as Op).follow === follow) n++;
          const group = ops.splice(0, n);
          const topics = [...new Set(group.flatMap((op) => op.topics))];
          try {
            await (follow ? followAll(topics) : unfollowAll(topics));
            for (const op of group) op.resolve();
          } catch (error) {
            for (const op of group) op.reject(error);
          }
        }
        working = false;
      };
      const enqueue = (follow: boolean, topics: readonly string[]): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          ops.push({ follow, topics, resolve, reject });
          if (!working) void work();
        });
      const followAll = async (topics: readonly string[]): Promise<void> => {
        if (closed) throw new BrokerError('closed', 'the broker is closed');
        const fresh = topics.filter((topic) => !cursors.has(topic) && !pending.has(topic));
        if (fresh.length === 0) return;
        let head: string;
        try {
          // Subscribed first, then the head read: every event after the head rings the bell.
          if (bell.status !== 'ready') await whenReady(bell);
          await bellCall(bell.subscribe(...fresh.map(topicKey)));
          if (command.status !== 'ready') await whenReady(command);
          [head] = await scripted.ssekitHead(1, seqKey);
        } catch (error) {
          throw new BrokerError('feed-failed', 'Redis did not answer', { cause: error });
        }
        // Resolved by the feed's loop when the topics join, between two reads.
        const joined = new Promise<void>((resolve) => {
          let left = fresh.length;
          const one = (): void => {
            if (--left === 0) resolve();
          };
          for (const topic of fresh) pending.set(topic, { head, resolve: one });
        });
        if (readerRunning) kick();
        else startReader();
        await withTimeout(joined, commandTimeout, () => {
          for (const topic of fresh) pending.delete(topic);
          return new BrokerError('feed-failed', 'the Redis feed did not take the topics in time');
        });
      };
      const unfollowAll = async (topics: readonly string[]): Promise<void> => {
        for (const topic of topics) {
          cursors.delete(topic);
          pending.delete(topic);
          hot.delete(topic);
        }
        // In order with later follows (the same connection): a topic followed again right
        // away is subscribed again after this.
        if (bell.status === 'ready') await bellCall(bell.unsubscribe(...topics.map(topicKey)));
      };
      return {
        follow: (topics) => enqueue(true, topics),
        unfollow: (topics) => enqueue(false, topics),
        close: async () => {
          listener = null;
          const channels = [...cursors.keys(), ...pending.keys()].map(topicKey);
          cursors.clear();
          pending.clear();
          hot.clear();
          kick();
          await readerStopped;
          if (channels.length > 0 && bell.status === 'ready')
            await bellCall(bell.unsubscribe(...channels)).catch(report);
        },
      };
    },

    compareIds: compareStreamIds,
    isValidId: isStreamId,
    // A stream is trimmed once it holds more than either bound (scripts.ts).
    topicLimits: { maxEvents: maxLen, maxBytes },

    async claim(name, value, ttl) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      checkNumber('ttl', ttl);
      try {
        if (command.status !== 'ready') await whenReady(command);
        // One command, atomic: set unless set, and answer what was there (Redis 7: NX with GET).
        const held = (await command.call('SET', claimKey(name), value, 'NX', 'GET', 'PX', String(ttl))) as
          | string
          | null;
        return held ?? value;
      } catch (error) {
        throw new BrokerError('claim-failed', 'Redis did not take the claim', { cause: error });
      }
    },

    async expire(topics, ttl) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      checkNumber('ttl', ttl, { min: 0 });
      try {
        if (command.status !== 'ready') await whenReady(command);
        // PEXPIRE with 0 deletes at once. A stream that expires loses its history; Redis keeps
        // no floor for a deleted key, so the replies layer (the only user) checks its own markers.
        // The stream's byte log (scripts.ts) goes with it: a stream recreated later starts both anew.
        const keys = keysOf(topics);
        await scripted.ssekitExpire(keys.length, ...keys, String(ttl));
      } catch (error) {
        throw new BrokerError('publish-failed', 'Redis did not take the expiry', { cause: error });
      }
    },

    async ready() {
      try {
        await connected;
        await Promise.all([whenReady(command), whenReady(reader), whenReady(bell)]);
      } catch (error) {
        throw isBrokerError(error) ? error : unreachable(error);
      }
    },

    async clientIds() {
      await Promise.all([whenReady(command), whenReady(reader), whenReady(bell)]);
      const [a, b, list] = await Promise.all([
        command.client('ID'),
        reader.client('ID'),
        // A connection in Pub/Sub mode runs no CLIENT ID: found by its name.
        command.call('CLIENT', 'LIST') as Promise<string>,
      ]);
      const line = list.split('\n').find((l) => l.includes(` name=${bellName} `));
      return {
        command: Number(a),
        reader: Number(b),
        bell: Number(/(?:^| )id=(\d+)/.exec(line ?? '')?.[1] ?? -1),
      };
    },

    async destroyAll() {
      let cursor = '0';
      do {
        const [next, keys] = await command.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await command.unlink(...keys);
      } while (cursor !== '0');
    },

    async close() {
      if (closed) return;
      listener = null;
      cursors.clear();
      closed = true;
      kick();
      for (const end of [...waiting]) end();
      reader.disconnect();
      bell.disconnect();
      await readerStopped;
      await command.quit().catch(() => command.disconnect());
    },
  };
  return broker;
}

/** The value of field `name` of a stream entry, if it has one. */
function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** True when Redis dropped entries of a stream that came after `id` (see FLOOR in scripts.ts). */
function lostAfter([floor, deleted]: readonly [string, string], id: string): boolean {
  return compareStreamIds(id, floor) < 0 || compareStreamIds(id, deleted) < 0;
}

const positiveInt = (name: string, value: number): number => checkNumber(name, value);

function randomToken(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` once this turn of the event loop is over (after its I/O callbacks and microtasks). */
function afterThisTurn(fn: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(fn);
  else setTimeout(fn, 0);
}

/** Most history reads in one script call. */
const READS_PER_CALL = 64;

/** Most events, and bytes of data, in one publish script call. */
const BATCH_EVENTS = 512;
const BATCH_BYTES = 1024 * 1024;

/** Resolves after the callbacks already queued with `setImmediate` (a timer where there is none). */
function yieldToMacrotasks(): Promise<void> {
  return new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
