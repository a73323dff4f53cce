/**
 * One broker for the worker processes of a node:cluster: several processes behind one port on
 * one machine (each holds at most as many connections as its open-files limit allows), sharing
 * ids, history and live events. The primary keeps the real broker (in memory, or any other);
 * each worker talks to it over the cluster's IPC channel through a {@link Broker} proxy, so its
 * hub resumes clients with ids handed out on any worker.
 *
 * Ordering: the primary handles a worker's messages in order and answers on the same channel,
 * so a worker sees the live events the broker delivers after its `follow` in the order of their
 * ids, and a `follow` answer arrives before any event published after it: the hub's seam between
 * history and live events holds across processes.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Broker, BrokerEvent, BrokerFeed, BrokerListener } from '../../hub/broker.js';
import { BrokerError } from '../../hub/errors.js';
import { compareStreamIds, isStreamId } from '../../hub/ids.js';
import { checkNumber } from '../../server/options.js';

/** A message channel like a cluster worker (primary side) or `process` (worker side). */
export interface IpcChannel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

const TAG = 'ssekit:broker';

type Op = 'publish' | 'history' | 'follow' | 'unfollow' | 'claim' | 'expire';

interface Call {
  [TAG]: 'call';
  seq: number;
  op: Op;
  args: unknown[];
}
interface Reply {
  [TAG]: 'reply';
  seq: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface EventMessage {
  [TAG]: 'event';
  event: BrokerEvent;
}
interface FeedErrorMessage {
  [TAG]: 'feed-error';
  error: string;
}
type Message = Call | Reply | EventMessage | FeedErrorMessage;

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && TAG in value;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What {@link serveClusterBroker} returns. */
export interface ClusterBrokerServer {
  /** Serves one more channel (workers forked later are added automatically in cluster mode). */
  add(channel: IpcChannel): void;
  /** Stops serving: closes every worker's feed (not the broker itself). */
  close(): Promise<void>;
}

/**
 * Primary side: serves `broker` to every cluster worker (present and future), or to the given
 * channels. Each worker gets its own feed on the broker, following the topics its hub needs.
 *
 * @example
 * ```ts
 * import cluster from 'node:cluster';
 * import { createServer } from 'node:http';
 * import { createHub, createMemoryBroker } from 'ssekit/hub';
 * import { createClusterBroker, createRequestListener, serveClusterBroker } from 'ssekit/node';
 *
 * if (cluster.isPrimary) {
 *   serveClusterBroker(createMemoryBroker());
 *   for (let i = 0; i < 4; i++) cluster.fork();
 * } else {
 *   const hub = createHub({ broker: createClusterBroker() });
 *   createServer(createRequestListener(hub.handler, { requestSignal: false })).listen(8080);
 * }
 * ```
 */
export function serveClusterBroker(
  broker: Broker,
  options: { channels?: Iterable<IpcChannel> } = {},
): ClusterBrokerServer {
  const served = new Map<IpcChannel, { feed: BrokerFeed; onMessage: (m: unknown) => void }>();

  const add = (channel: IpcChannel): void => {
    if (served.has(channel)) return;
    const send = (message: Message): void => {
      try {
        channel.send(message);
      } catch {
        // The worker is gone; its exit removes it. Nothing else can be done with the message.
      }
    };
    const feed = broker.subscribe({
      onEvent: (event) => send({ [TAG]: 'event', event }),
      onError: (error) => send({ [TAG]: 'feed-error', error: describe(error) }),
    });
    const onMessage = (message: unknown): void => {
      if (!isMessage(message) || message[TAG] !== 'call') return;
      const { seq, op, args } = message;
      let result: Promise<unknown>;
      switch (op) {
        case 'publish':
          result = broker.publish(args[0] as string[], args[1] as { event?: string; data: string });
          break;
        case 'history':
          result = broker.history(args[0] as string[], args[1] as string, args[2] as { limit?: number });
          break;
        case 'follow':
          result = feed.follow(args[0] as string[]);
          break;
        case 'unfollow':
          result = feed.unfollow(args[0] as string[]);
          break;
        case 'claim':
          result =
            broker.claim === undefined
              ? Promise.reject(new Error("the primary's broker has no claim()"))
              : broker.claim(args[0] as string, args[1] as string, args[2] as number);
          break;
        case 'expire':
          result =
            broker.expire === undefined
              ? Promise.resolve()
              : broker.expire(args[0] as string[], args[1] as number);
          break;
        default:
          result = Promise.reject(new Error(`unknown broker operation ${String(op)}`));
      }
      result.then(
        (value) => send({ [TAG]: 'reply', seq, ok: true, value }),
        (error: unknown) => send({ [TAG]: 'reply', seq, ok: false, error: describe(error) }),
      );
    };
    channel.on('message', onMessage);
    served.set(channel, { feed, onMessage });
  };

  const remove = (channel: IpcChannel): Promise<void> => {
    const entry = served.get(channel);
    if (entry === undefined) return Promise.resolve();
    served.delete(channel);
    channel.off('message', entry.onMessage);
    return entry.feed.close();
  };

  let onFork: ((worker: Worker) => void) | undefined;
  let onExit: ((worker: Worker) => void) | undefined;
  if (options.channels !== undefined) {
    for (const channel of options.channels) add(channel);
  } else {
    for (const worker of Object.values(cluster.workers ?? {})) if (worker !== undefined) add(worker);
    onFork = (worker) => add(worker);
    onExit = (worker) => {
      void remove(worker);
    };
    cluster.on('fork', onFork);
    cluster.on('exit', onExit);
  }

  return {
    add,
    async close() {
      if (onFork !== undefined) cluster.off('fork', onFork);
      if (onExit !== undefined) cluster.off('exit', onExit);
      await Promise.all([...served.keys()].map(remove));
    },
  };
}

/** Options of {@link createClusterBroker}. */
export interface ClusterBrokerOptions {
  /** The channel to the primary. Default `process` (a cluster worker, or any forked child). */
  channel?: IpcChannel;
  /** A call the primary has not answered within this many ms fails. Default 10,000. */
  timeout?: number;
  /** Id order of the primary's broker. Default: stream ids (`<ms>-<seq>`), as the built-in brokers use. */
  compareIds?: (a: string, b: string) => number;
  /** Id syntax of the primary's broker. Default: stream ids. */
  isValidId?: (id: string) => boolean;
}

/**
 * Worker side: a {@link Broker} that forwards to the broker the primary serves with
 * {@link serveClusterBroker}. Pass it to `createHub({ broker })` in every worker.
 */
export function createClusterBroker(options: ClusterBrokerOptions = {}): Broker {
  const channel = options.channel ?? (process as unknown as IpcChannel);
  if (typeof (channel as { send?: unknown }).send !== 'function') {
    throw new TypeError(
      'createClusterBroker needs an IPC channel: run it in a cluster worker or forked child',
    );
  }
  const timeout = checkNumber('timeout', options.timeout ?? 10_000);
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: unknown }
  >();
  const listeners = new Set<BrokerListener>();
  let seq = 0;
  let closed = false;

  const onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    switch (message[TAG]) {
      case 'event':
        for (const listener of listeners) listener.onEvent(message.event);
        break;
      case 'feed-error':
        for (const listener of listeners) {
          listener.onError(new BrokerError('feed-failed', `the primary's feed failed: ${message.error}`));
        }
        break;
      case 'reply': {
        const call = pending.get(message.seq);
        if (call === undefined) return;
        pending.delete(message.seq);
        clearTimeout(call.timer as ReturnType<typeof setTimeout>);
        if (message.ok) call.resolve(message.value);
        else call.reject(new Error(message.error));
        break;
      }
    }
  };
  channel.on('message', onMessage);

  const call = <T>(
    op: Op,
    args: unknown[],
    type: 'publish-failed' | 'history-failed' | 'feed-failed' | 'claim-failed',
  ): Promise<T> => {
    if (closed) return Promise.reject(new BrokerError('closed', 'the broker is closed'));
    return new Promise<T>((resolve, reject) => {
      const id = ++seq;
      const fail = (cause: unknown) =>
        reject(new BrokerError(type, `${op} failed in the primary`, { cause }));
      const timer = setTimeout(() => {
        pending.delete(id);
        fail(new Error(`no answer from the primary in ${timeout} ms`));
      }, timeout);
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject: fail, timer });
      try {
        channel.send({ [TAG]: 'call', seq: id, op, args } satisfies Call);
      } catch (error) {
        pending.delete(id);
        clearTimeout(timer);
        fail(error);
      }
    });
  };

  return {
    publish: (topics, event) =>
      call<string>('publish', [topics, { event: event.event, data: event.data }], 'publish-failed'),
    history: (topics, afterId, historyOptions) =>
      call('history', [topics, afterId, historyOptions ?? {}], 'history-failed'),
    subscribe(listener) {
      listeners.add(listener);
      return {
        follow: (topics) => call<void>('follow', [topics], 'feed-failed'),
        unfollow: (topics) => call<void>('unfollow', [topics], 'feed-failed'),
        async close() {
          listeners.delete(listener);
        },
      };
    },
    compareIds: options.compareIds ?? compareStreamIds,
    isValidId: options.isValidId ?? isStreamId,
    // Forwarded: claims are atomic in the primary, which handles one message at a time. A
    // primary whose broker has no claim() answers with an error (expire() with nothing).
    claim: (name, value, ttl) => call<string>('claim', [name, value, ttl], 'claim-failed'),
    expire: (topics, ttl) => call<void>('expire', [topics, ttl], 'publish-failed'),
    async close() {
      closed = true;
      channel.off('message', onMessage);
      for (const [, p] of pending) {
        clearTimeout(p.timer as ReturnType<typeof setTimeout>);
        p.reject(new BrokerError('closed', 'the broker is closed'));
      }
      pending.clear();
      listeners.clear();
    },
  };
}
