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
   * Where errors are reported: any error of the source, of its `return()` during cleanup, or of
   * `errorEvent`. Its return value is ignored, as with every `onError` of the server side (hub,
   * replies, adapters). Default: `console.error`, so an error is never lost.
   */
  onError?: (error: unknown) => void;
  /**
   * What the client is told when the source fails: the event returned is sent as the last one
   * before the stream closes; `undefined` sends nothing. Called after `onError`. Default: nothing
   * is sent, so a stack trace or an internal message never reaches the client.
   */
  errorEvent?: (error: unknown) => StreamItem | undefined;
}

function defaultOnError(error: unknown): void {
  console.error('ssekit: the event source of streamEvents failed', error);
}

/**
 * Streams an async iterable as events and returns the `Response` at once.
 *
 * - Each item is sent in order, awaiting room (backpressure reaches the source: the iterator is
 *   not asked for the next item while the client is behind).
 * - When the client disconnects, the iterator's `return()` is called (an async generator runs
 *   its `finally` blocks) and the `signal` handed to a source function aborts, so upstream work
 *   (an LLM request, a database cursor) stops.
 * - When the source throws, the error goes to `onError`, `errorEvent` decides what the client is
 *   told (nothing by default), and the stream closes cleanly.
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
  options: StreamEventsOptions = {},
): Response {
  const handle = openEventStream(options);
  void pump(handle, source, options.onError ?? defaultOnError, options.errorEvent);
  return handle.stream.response;
}

// Never rejects: every error goes to `onError` (or, if that throws, to console.error).
async function pump(
  { stream, end }: ReturnType<typeof openEventStream>,
  source: EventIterable | ((signal: AbortSignal) => EventIterable),
  onError: NonNullable<StreamEventsOptions['onError']>,
  errorEvent: StreamEventsOptions['errorEvent'],
): Promise<void> {
  let iterator: AsyncIterator<StreamItem> | Iterator<StreamItem> | undefined;
  // Set once the iterator finished or threw on its own: it must not be asked to return() then.
  let settled = false;
  let returned = false;

  const report = (error: unknown): void => {
    try {
      onError(error);
    } catch (secondary) {
      console.error('ssekit: onError threw', secondary);
    }
  };
  const lastEvent = (error: unknown): StreamItem | undefined => {
    if (errorEvent === undefined) return undefined;
    try {
      return errorEvent(error) ?? undefined;
    } catch (secondary) {
      report(secondary);
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
    report(error);
    if (stream.closed) return;
    const reply = lastEvent(error);
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
