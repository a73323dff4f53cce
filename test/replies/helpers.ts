import type { Socket } from 'node:net';
import { afterEach, expect } from 'vitest';
import { createRequestListener } from '../../src/adapters/node/index.js';
import { type Broker, type BrokerListener, createMemoryBroker } from '../../src/hub/index.js';
import { createParser, type ServerSentEvent } from '../../src/index.js';
import { createReplies, type Produce, type Replies, type RepliesOptions } from '../../src/replies/index.js';
import { deferred, listen } from '../helpers/server.js';

export { deferred };

/** An instance of replies on a real node:http server: POST /chat starts `produce`, the rest is the handler. */
export async function serve(options: RepliesOptions & { produce?: Produce } = {}) {
  const replies = createReplies({ heartbeat: false, ...options });
  let produce: Produce | undefined = options.produce;
  const server = await listen(
    createRequestListener((request) => {
      if (request.method === 'POST' && new URL(request.url).pathname === '/chat') {
        if (produce === undefined) throw new Error('no producer set');
        return replies.start(request, produce);
      }
      return replies.handler(request);
    }),
  );
  return {
    replies,
    url: server.url,
    setProducer(next: Produce) {
      produce = next;
    },
    async close() {
      await replies.close({ timeout: 0 });
      await server.close();
    },
  };
}

export type Instance = Awaited<ReturnType<typeof serve>>;

/**
 * Serves instances for one test file and closes them after each test: call it once at the top
 * of the file, then `await instance({ ... })` in a test.
 */
export function instancesPerTest(): (options?: Parameters<typeof serve>[0]) => Promise<Instance> {
  const open: Instance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((i) => i.close()));
  });
  return async (options = {}) => {
    const created = await serve(options);
    open.push(created);
    return created;
  };
}

/** One response read as an event stream: events (with ids), retry hints, whether it ended. */
export class Stream {
  readonly status: number;
  readonly headers: Headers;
  readonly events: ServerSentEvent[] = [];
  readonly retries: number[] = [];
  /** The last event id as a client would keep it (an id field alone sets it too). */
  lastEventId = '';
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #abort: AbortController;
  readonly #parser = createParser({
    onEvent: (event) => {
      this.events.push(event);
    },
    onRetry: (ms) => this.retries.push(ms),
  });
  readonly #decoder = new TextDecoder();
  text = '';

  constructor(response: Response, abort: AbortController) {
    this.status = response.status;
    this.headers = response.headers;
    this.#abort = abort;
    this.#reader = response.body?.getReader();
    if (this.#reader === undefined) this.ended = true;
  }

  async #read(): Promise<void> {
    const next = await (this.#reader as ReadableStreamDefaultReader<Uint8Array>).read();
    if (next.done) {
      this.ended = true;
      return;
    }
    const chunk = this.#decoder.decode(next.value, { stream: true });
    this.text += chunk;
    this.#parser.feed(chunk);
    // Every `id:` line seen so far (WHATWG HTML §9.2.6: an id sets the last event id even
    // without data); good enough for test streams, whose ids never contain newlines.
    const ids = [...this.text.matchAll(/^id: ?(.*)$/gm)];
    const last = ids[ids.length - 1];
    if (last !== undefined) this.lastEventId = last[1] as string;
  }

  /** Reads until `count` events in all, or the end. */
  async take(count: number): Promise<ServerSentEvent[]> {
    while (this.events.length < count && !this.ended) await this.#read();
    return this.events;
  }

  /** Reads to the end of the response. */
  async rest(): Promise<ServerSentEvent[]> {
    while (!this.ended) await this.#read();
    return this.events;
  }

  /** Drops the connection, as a reload would. */
  disconnect(): void {
    this.#abort.abort();
    this.#reader?.cancel().catch(() => {});
    this.ended = true;
  }
}

/** Sends a request and wraps the answer as a {@link Stream}. */
export async function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Stream> {
  const abort = new AbortController();
  const response = await fetch(url, { ...init, signal: abort.signal });
  return new Stream(response, abort);
}

export function post(base: string, headers: Record<string, string> = {}): Promise<Stream> {
  return request(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });
}

export function get(base: string, location: string, lastEventId?: string): Promise<Stream> {
  return request(new URL(location, base).href, {
    headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
  });
}

/** The tokens of a reply's events (its `end` event left out). */
export const tokens = (events: readonly ServerSentEvent[]): string[] =>
  events.filter((e) => e.event !== 'end').map((e) => e.data);

/** A producer of `n` tokens `t1..tn` that waits for `step(i)` after sending token i. */
export function steppedProducer(n: number) {
  const steps = Array.from({ length: n + 1 }, () => deferred());
  const sent: string[] = [];
  const state = { runs: 0, finallyRan: 0, aborted: false, signal: undefined as AbortSignal | undefined };
  const produce: Produce = async ({ send, signal }) => {
    state.runs++;
    state.signal = signal;
    try {
      for (let i = 1; i <= n; i++) {
        await send(`t${i}`);
        sent.push(`t${i}`);
        // The listener goes when the step comes first: one per step would pile up on the signal.
        let onAbort = (): void => {};
        try {
          await Promise.race([
            steps[i]?.promise,
            new Promise<void>((_, reject) => {
              if (signal.aborted) reject(signal.reason);
              onAbort = () => reject(signal.reason);
              signal.addEventListener('abort', onAbort, { once: true });
            }),
          ]);
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      }
    } finally {
      state.aborted = signal.aborted;
      state.finallyRan++;
    }
  };
  return {
    produce,
    state,
    sent,
    /** Lets the producer go on after token i. */
    step(i: number) {
      steps[i]?.resolve();
    },
    /** Lets it run to its end. */
    finish() {
      for (const s of steps) s.resolve();
    },
  };
}

/** A memory broker several instances share (each instance is a separate createReplies). */
export function sharedBroker(): Broker {
  return createMemoryBroker({ history: { maxEvents: 100_000, maxAge: Number.POSITIVE_INFINITY } });
}

export type { Replies };

/**
 * A broker as one instance sees it, which the test can kill: afterwards its calls fail and its
 * feed hears nothing (the instance is gone, or cut off from the broker).
 */
export function killable(inner: Broker) {
  let dead = false;
  const gone = () => Promise.reject(new Error('this instance is dead'));
  const broker: Broker = {
    ...inner,
    publish: (topics, event) => (dead ? gone() : inner.publish(topics, event)),
    history: (topics, afterId, options) => (dead ? gone() : inner.history(topics, afterId, options)),
    subscribe(listener) {
      return inner.subscribe({
        onEvent: (event) => {
          if (!dead) listener.onEvent(event);
        },
        onError: (error) => listener.onError(error),
      });
    },
    claim: (name, value, ttl) => (dead ? gone() : (inner.claim?.(name, value, ttl) ?? gone())),
    expire: (topics, ttl) => (dead ? gone() : (inner.expire?.(topics, ttl) ?? Promise.resolve())),
    close: async () => {},
  };
  return {
    broker,
    kill() {
      dead = true;
    },
  };
}

/**
 * A broker whose feed the test can deafen (`deaf = true`: events published meanwhile never reach
 * the listener) and fail (`fail(error)`): an instance that misses what its feed should tell it.
 */
export function deafenable(inner: Broker) {
  let listener: BrokerListener | undefined;
  const control = {
    deaf: false,
    broker: {
      ...inner,
      subscribe(next: BrokerListener) {
        listener = next;
        return inner.subscribe({
          onEvent: (event) => {
            if (!control.deaf) next.onEvent(event);
          },
          onError: (error) => next.onError(error),
        });
      },
    } as Broker,
    fail(error: unknown): void {
      listener?.onError(error);
    },
  };
  return control;
}

/** A broker whose history reads reject with `failure` while `failing` is true. */
export function failingHistory(failure: unknown = new Error('broker unreachable')) {
  const inner = createMemoryBroker();
  let failing = false;
  const broker: Broker = {
    ...inner,
    history: (...args) => (failing ? Promise.reject(failure) : inner.history(...args)),
  };
  return {
    broker,
    failure,
    get failing(): boolean {
      return failing;
    },
    set failing(value: boolean) {
      failing = value;
    },
  };
}

/** A producer that sends `first` tokens, then waits (silent) until its signal aborts or `release()`. */
export function waitingProducer(first = 1) {
  const state = {
    runs: 0,
    finallyRan: 0,
    reason: undefined as unknown,
    signal: undefined as AbortSignal | undefined,
  };
  const released = deferred();
  const produce: Produce = async ({ send, signal }) => {
    state.runs++;
    state.signal = signal;
    try {
      for (let i = 1; i <= first; i++) await send(`t${i}`);
      await Promise.race([
        released.promise,
        new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
      ]);
      if (!signal.aborted) await send('last');
    } finally {
      state.reason = signal.reason;
      state.finallyRan++;
    }
  };
  return { produce, state, release: () => released.resolve() };
}

/**
 * A reload mid-reply: POSTs, reads the first `k` tokens (stepping the producer between them)
 * and drops the connection. The reply's URL and what the client saw, to resume from.
 */
export async function readThenDrop(
  url: string,
  producer: ReturnType<typeof steppedProducer>,
  k: number,
): Promise<{ location: string; seen: ServerSentEvent[] }> {
  const first = await post(url);
  const location = first.headers.get('content-location') as string;
  for (let i = 1; i <= k; i++) {
    await first.take(i);
    if (i < k) producer.step(i);
  }
  first.disconnect();
  return { location, seen: first.events.slice(0, k) };
}

/**
 * What was seen before the drop and what the resume brought make the whole reply once: every
 * token in order, one `end`, no id twice, and one producer run.
 */
export function expectWholeOnce(
  seen: readonly ServerSentEvent[],
  rest: readonly ServerSentEvent[],
  all: readonly string[],
  producer: ReturnType<typeof steppedProducer>,
  label: string,
): void {
  expect([...tokens(seen), ...tokens(rest)], label).toEqual(all);
  expect(rest.filter((e) => e.event === 'end')).toHaveLength(1);
  const ids = [...seen, ...rest].map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(producer.state.runs).toBe(1);
}

/** Bounded wait: a hang fails the test with a message (it asserts settling, not a duration). */
export async function settles<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** One request a recording server got: what the replies tests check of it. */
export interface Hit {
  method: string;
  path: string;
  lastEventId: string | undefined;
  contentType: string | undefined;
  body: string;
  socket: Socket;
}

/**
 * createReplies on node:http that records every request (method, path, Last-Event-ID, content
 * type, body, socket): POST starts `produce`, the rest goes to the handler. Call it once at the
 * top of a test file; the servers are closed after each test.
 */
export function recordingServersPerTest() {
  const open: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((close) => close()));
  });
  return async (produce: Produce, options: RepliesOptions = {}) => {
    const replies = createReplies({ heartbeat: false, basePath: '/replies/', ...options });
    const hits: Hit[] = [];
    const handle = createRequestListener((request) =>
      request.method === 'POST' ? replies.start(request, produce) : replies.handler(request),
    );
    const server = await listen((req, res) => {
      const raw = req.headers['last-event-id'];
      const hit: Hit = {
        method: req.method ?? '',
        path: req.url ?? '',
        lastEventId: typeof raw === 'string' ? raw : undefined,
        contentType: req.headers['content-type'],
        body: '',
        socket: req.socket,
      };
      hits.push(hit);
      req.on('data', (chunk: Buffer) => {
        hit.body += chunk.toString();
      });
      handle(req, res);
    });
    open.push(async () => {
      await replies.close({ timeout: 0 });
      await server.close();
    });
    return {
      replies,
      hits,
      url: server.url,
      posts: () => hits.filter((h) => h.method === 'POST').length,
      /** Cuts the TCP connection of the latest request, server side, as a dying proxy would. */
      cut: () => hits.at(-1)?.socket.destroy(),
    };
  };
}
