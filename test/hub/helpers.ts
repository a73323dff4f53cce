import { type Broker, createMemoryBroker } from '../../src/hub/index.js';
import { createParser, type ServerSentEvent } from '../../src/index.js';
import { deferred } from '../helpers/server.js';

/** Reads a stream response until `count` events (comments and retry fields are collected too). */
export async function readEvents(
  response: Response,
  count: number,
): Promise<{ events: ServerSentEvent[]; retries: number[]; comments: number; done: boolean }> {
  const events: ServerSentEvent[] = [];
  const retries: number[] = [];
  let comments = 0;
  const parser = createParser({
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
    onComment: () => comments++,
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let done = false;
  while (events.length < count) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    parser.feed(next.value);
  }
  reader.releaseLock();
  return { events, retries, comments, done };
}

/** Reads a stream response until an event satisfies `last` (included) or the stream ends. */
export async function readUntil(
  response: Response,
  last: (event: ServerSentEvent) => boolean,
): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  let stop = false;
  const parser = createParser({
    onEvent: (e) => {
      if (stop) return;
      events.push(e);
      if (last(e)) stop = true;
    },
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  while (!stop) {
    const next = await reader.read();
    if (next.done) break;
    parser.feed(next.value);
  }
  reader.releaseLock();
  return events;
}

/** Reads a stream response to its end. */
export async function readAll(
  response: Response,
): Promise<{ events: ServerSentEvent[]; retries: number[]; comments: number }> {
  const { events, retries, comments } = await readEvents(response, Number.POSITIVE_INFINITY);
  return { events, retries, comments };
}

/** Lets pending flushes (scheduled with setImmediate) run. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export { seeded } from '../helpers/seeded.mjs';
export { deferred };

/** A broker whose history reads wait for the test: publishes then land during the replay. */
export function gatedBroker(inner: Broker = createMemoryBroker({ history: { maxEvents: 10_000 } })) {
  let gate: Promise<void> | null = null;
  let entered: (() => void) | null = null;
  let readFirst = false;
  const broker: Broker = {
    ...inner,
    async history(topics, afterId, options) {
      entered?.();
      if (gate === null) return inner.history(topics, afterId, options);
      // A slow store: the page is what history held when asked, delivered when released.
      if (readFirst) {
        const page = await inner.history(topics, afterId, options);
        await gate;
        return page;
      }
      await gate;
      return inner.history(topics, afterId, options);
    },
  };
  return {
    broker,
    /**
     * Holds the next history reads; resolves `entered` when one starts. With `readFirst`, the
     * page is read at once and only its answer waits (events published meanwhile are not in it).
     */
    hold(options: { readFirst?: boolean } = {}) {
      const g = deferred();
      const e = deferred();
      gate = g.promise;
      entered = e.resolve;
      readFirst = options.readFirst ?? false;
      return {
        entered: e.promise,
        release() {
          gate = null;
          g.resolve();
        },
      };
    },
  };
}
