/**
 * The AI SDK's UI message stream (`ai` 5 and 6, what `useChat`'s `DefaultChatTransport` reads),
 * spoken by ssekit's resumable replies. The wire, as the AI SDK writes it
 * (`createUIMessageStreamResponse`, its `JsonToSseTransformStream` and `UI_MESSAGE_STREAM_HEADERS`):
 * - the header `x-vercel-ai-ui-message-stream: v1`, on a `text/event-stream` response;
 * - one event per chunk, `data: <the chunk as JSON>` (no event type);
 * - `data: [DONE]` after the last chunk.
 * Every event here also carries an `id` (the reply log's): the AI SDK's parser ignores it, and a
 * client that keeps it resumes after it. The AI SDK is never imported: its chunks are plain JSON.
 */
import type { EndReason, Produce, ReplyContext, ReplyEvent } from '../replies/index.js';

/**
 * Headers of a UI message stream beyond those every ssekit stream has (`content-type:
 * text/event-stream`, `cache-control: no-cache, no-transform`, `x-accel-buffering: no`, ...).
 */
export const UI_MESSAGE_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-vercel-ai-ui-message-stream': 'v1',
});

/**
 * One chunk of a UI message stream: the AI SDK's `UIMessageChunk` (`start`, `text-delta`,
 * `tool-input-available`, `finish`, `data-*`, ...), or anything of that shape. Sent as its JSON.
 */
export interface UIMessageChunkLike {
  readonly type: string;
}

/** What a UI message producer returns: `streamText(...).toUIMessageStream()`, or any async iterable of chunks. */
export type UIMessageSource = ReadableStream<UIMessageChunkLike> | AsyncIterable<UIMessageChunkLike>;

/**
 * A producer of UI message chunks. Gets the reply's context: pass `signal` to the model call
 * (`streamText({ ..., abortSignal: signal })`), it aborts when the reply is stopped.
 */
export type ProduceUIMessages = (reply: ReplyContext) => UIMessageSource | Promise<UIMessageSource>;

const DONE = '[DONE]';
const START = '{"type":"start"}';
const ABORT = '{"type":"abort"}';

/**
 * What a client of the UI message stream gets at a reply's end, in place of ssekit's `end`
 * event (see `RepliesOptions.endEvents`): `data: [DONE]` when the producer finished; an `abort`
 * chunk before it when the reply was stopped; an `error` chunk before it when it ended any other
 * way (its `errorText` names the reason: `failed`, `producer-lost`, `too-large`, ...), which
 * `useChat` shows as its `error`.
 */
export function uiMessageStreamEnd(reason: EndReason): readonly ReplyEvent[] {
  if (reason === 'done') return [DONE];
  if (reason === 'stopped') return [ABORT, DONE];
  return [JSON.stringify({ type: 'error', errorText: `the reply ended early (${reason})` }), DONE];
}

interface ChunkReader {
  next(): Promise<IteratorResult<UIMessageChunkLike>>;
  cancel(reason: unknown): void;
}

function readerOf(source: UIMessageSource): ChunkReader {
  if (typeof (source as ReadableStream).getReader === 'function') {
    const reader = (source as ReadableStream<UIMessageChunkLike>).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<UIMessageChunkLike>>,
      // A pending read settles (done) at once: the model's stream is cancelled, which ends its call.
      cancel: (reason) => void reader.cancel(reason).catch(() => {}),
    };
  }
  if (typeof source !== 'object' || source === null || !(Symbol.asyncIterator in source)) {
    throw new TypeError('a UI message producer returns a ReadableStream or an async iterable of chunks');
  }
  const iterator = source[Symbol.asyncIterator]();
  return {
    next: () => iterator.next(),
    cancel: () => void iterator.return?.()?.catch(() => {}),
  };
}

/**
 * Adapts a producer of UI message chunks to a replies producer (`replies.start(request,
 * uiMessageProducer(...))`): each chunk goes to the reply's log as one event, its JSON. When the
 * first chunk is not a `start` chunk, one is sent before it: the AI SDK's transport replays a
 * resumed reply from its start and rebuilds the message at its first `start` chunk, so without
 * one a resumed reply would show its text twice. When the reply ends early (stopped, too
 * large, shutdown), the source is cancelled (a `ReadableStream`'s `cancel`, an iterator's
 * `return`) besides the `signal` aborting.
 */
export function uiMessageProducer(produce: ProduceUIMessages): Produce {
  if (typeof produce !== 'function') throw new TypeError('uiMessageProducer needs a function');
  return async (reply) => {
    const reader = readerOf(await produce(reply));
    let finished = false;
    const cancel = (): void => {
      if (finished) return;
      finished = true;
      reader.cancel(reply.signal.reason);
    };
    if (reply.signal.aborted) cancel();
    else reply.signal.addEventListener('abort', cancel, { once: true });
    try {
      let first = true;
      for (;;) {
        const result = await reader.next();
        if (result.done === true) {
          finished = true;
          return;
        }
        const chunk = result.value;
        if (typeof chunk !== 'object' || chunk === null || typeof chunk.type !== 'string') {
          throw new TypeError('a UI message chunk is an object with a string `type`');
        }
        if (first && chunk.type !== 'start' && !(await reply.send(START))) return;
        first = false;
        if (!(await reply.send(JSON.stringify(chunk)))) return;
      }
    } finally {
      reply.signal.removeEventListener('abort', cancel);
      // Ended early (the reply was stopped, or the log refused an event): the model stops too.
      cancel();
    }
  };
}
