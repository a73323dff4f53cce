/**
 * The source form of an event stream: an async iterable (an async generator yielding tokens or
 * events, the natural shape of an LLM reply) piped into a `Response`.
 */
import type { OutgoingEvent } from '../protocol/types.js';
import { type EventStreamOptions, openEventStream } from './event-stream.js';

/** One item of a source: an event, or a string as shorthand for `{ data }`. */
export type StreamItem = OutgoingEvent | string;

/** What {@link streamEvents} reads: any async or sync iterable of {@link StreamItem}. */
export type EventIterable = AsyncIterable<StreamItem> | Iterable<StreamItem>;

/** Options of {@link streamEvents}. */
export interface StreamEventsOptions extends EventStreamOptions {
  /**
   * Called with any error of the source (or of its `return()` during cleanup). Its return value,
   * if any, is sent to the client as a last event before the stream closes; nothing is sent by
   * default, so a stack trace or an internal message never reaches the client. The default logs
   * the error with `console.error`, so it is never lost.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a logging callback with no return value pass
  onError?: (error: unknown) => StreamItem | undefined | void;
}

function defaultOnError(error: unknown): undefined {
  console.error('ssekit: the event source of streamEvents failed', error);
  return undefined;
}

/**
 * Streams an async iterable as events and returns the `Response` at once.
 *
 * - Each item is sent in order, awaiting room (backpressure reaches the source: the iterator is
 *   not asked for the next item while the client is behind).
 * - When the client disconnects, the iterator's `return()` is called (an async generator runs
 *   its `finally` blocks) and the `signal` handed to a source function aborts, so upstream work
 *   (an LLM request, a database cursor) stops.
 * - When the source throws, `onError` decides what the client is told (nothing by default) and
 *   the stream closes cleanly.
 *
 * @example
 * ```ts
 * import { streamEvents } from 'ssekit/server';
 *
 * export function POST(request: Request) {
 *   return streamEvents(async function* (signal) {
 *     const upstream = await fetch('https://llm.example.com/v1/chat', {
 *       method: 'POST',
 *       body: await request.text(),
 *       signal,
 *     });
 *     for await (const token of tokensOf(upstream)) {
 *       yield { event: 'message', data: JSON.stringify({ role: 'assistant', content: token }) };
 *     }
 *   }, { signal: request.signal });
 * }
 * ```
 */
export function streamEvents(
  source: EventIterable | ((signal: AbortSignal) => EventIterable),
  init: StreamEventsOptions = {},
): Response {
  const handle = openEventStream(init);
  void pump(handle, source, init.onError ?? defaultOnError);
  return handle.stream.response;
}

// Never rejects: every error goes to `onError` (or, if that throws, to console.error).
async function pump(
  { stream, end }: ReturnType<typeof openEventStream>,
  source: EventIterable | ((signal: AbortSignal) => EventIterable),
  onError: NonNullable<StreamEventsOptions['onError']>,
): Promise<void> {
  let iterator: AsyncIterator<StreamItem> | Iterator<StreamItem> | undefined;
  // Set once the iterator finished or threw on its own: it must not be asked to return() then.
  let settled = false;
  let returned = false;

  const report = (error: unknown): StreamItem | undefined => {
    try {
      return onError(error) ?? undefined;
    } catch (secondary) {
      console.error('ssekit: onError threw', secondary);
      return undefined;
    }
  };

  const release = (): void => {
    if (settled || returned || iterator?.return === undefined) return;
    returned = true;
    try {
      // A rejected return() (a cleanup that failed) is reported, never left unhandled.
      Promise.resolve(iterator.return()).catch(report);
    } catch (error) {
      report(error);
    }
  };

  try {
    const iterable = typeof source === 'function' ? source(stream.signal) : source;
    iterator =
      Symbol.asyncIterator in iterable
        ? (iterable as AsyncIterable<StreamItem>)[Symbol.asyncIterator]()
        : (iterable as Iterable<StreamItem>)[Symbol.iterator]();
    // Disconnect (or overflow) while the source is mid-item: return() is queued by async
    // generators and runs at their next `yield`, so upstream work stops there.
    stream.signal.addEventListener('abort', release, { once: true });
    while (!stream.closed) {
      let result: IteratorResult<StreamItem>;
      try {
        result = await iterator.next();
      } catch (error) {
        settled = true;
        throw error;
      }
      if (result.done) {
        settled = true;
        break;
      }
      if (stream.closed) break;
      await stream.send(result.value);
    }
    stream.close();
  } catch (error) {
    release();
    if (stream.closed) {
      report(error);
      return;
    }
    const reply = report(error);
    if (reply !== undefined) {
      try {
        void stream.send(reply);
      } catch (encodeError) {
        report(encodeError);
      }
    }
    end('source-error', error);
  } finally {
    stream.signal.removeEventListener('abort', release);
  }
}
