import { readFileSync } from 'node:fs';
import {
  type ProviderStream,
  type ProviderStreamSource,
  type ReadProviderOptions,
  readAnthropic,
  readOpenAIChat,
  readOpenAIResponses,
} from '../../src/ai/index.js';

/** A stream written for these tests from the provider's documented format (test/fixtures/ai). */
export function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/ai/${name}.sse`, import.meta.url), 'utf8');
}

export const encoder = new TextEncoder();

/** A byte stream that delivers `bytes` cut at `cuts`, and tells whether it was cancelled. */
export function chunked(
  bytes: Uint8Array | string,
  cuts: readonly number[] = [],
): ReadableStream<Uint8Array> & { cancelled(): boolean; pulls(): number } {
  const all = typeof bytes === 'string' ? encoder.encode(bytes) : bytes;
  // Unique and inside: every pull enqueues one non-empty chunk or closes.
  const inside = [...new Set(cuts)].filter((c) => c > 0 && c < all.length).sort((a, b) => a - b);
  const bounds = [0, ...inside, all.length];
  let next = 0;
  let cancelled = false;
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        const start = bounds[next];
        const end = bounds[next + 1];
        next++;
        if (start === undefined || end === undefined) controller.close();
        else controller.enqueue(all.slice(start, end));
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return Object.assign(stream, { cancelled: () => cancelled, pulls: () => pulls });
}

/** Every cut position: the stream one byte at a time. */
export function everyByte(text: string): number[] {
  return Array.from({ length: encoder.encode(text).length }, (_, i) => i);
}

/** A 200 `text/event-stream` response over `body`. */
export function eventStreamResponse(body: BodyInit, init: ResponseInit = {}): Response {
  return new Response(body, {
    status: 200,
    ...init,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', ...(init.headers as object) },
  });
}

/** Everything an async iterable yields, and the error it ended with, if any. */
export async function drain<T>(
  iterable: AsyncIterable<T> | ReadableStream<T>,
): Promise<{ items: T[]; error?: unknown }> {
  const items: T[] = [];
  try {
    if ('getReader' in iterable) {
      const reader = iterable.getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) items.push(next.value);
    } else {
      for await (const item of iterable) items.push(item);
    }
  } catch (error) {
    return { items, error };
  }
  return { items };
}

/** The three readers, with their fixtures and what each fixture holds. */
export interface ReaderCase {
  name: string;
  read(source: ProviderStreamSource, options?: ReadProviderOptions): ProviderStream<unknown>;
  /** A whole stream, end marker included. */
  whole: string;
  /** Its text deltas. */
  text: string[];
  /** The line of the end marker's event (the stream without it is cut short). */
  endMarker: string;
  /** A stream with an error in the middle, its text before the error, and the error's fields. */
  error: { stream: string; text: string[]; code: string; message: string };
  /** A valid event of the format whose data can be replaced with bad JSON. */
  eventLine: (data: string) => string;
}

export const cases: ReaderCase[] = [
  {
    name: 'OpenAI Chat Completions',
    read: readOpenAIChat,
    whole: fixture('openai-chat'),
    text: ['Bonjour', ' à', ' tous 😀,', ' 世界 €5.'],
    endMarker: 'data: [DONE]\n',
    error: {
      stream: fixture('openai-chat-error'),
      text: ['Once upon'],
      code: 'server_error',
      message: 'The server had an error while processing your request. Sorry about that!',
    },
    eventLine: (data) => `data: ${data}\n\n`,
  },
  {
    name: 'OpenAI Responses',
    read: readOpenAIResponses,
    whole: fixture('openai-responses'),
    text: ['Bonjour', ' à tous 😀,', ' 世界 €5.'],
    endMarker: 'event: response.completed\n',
    error: {
      stream: fixture('openai-responses-failed'),
      text: ['Once upon'],
      code: 'server_error',
      message: 'The model failed to generate a response.',
    },
    eventLine: (data) => `event: response.output_text.delta\ndata: ${data}\n\n`,
  },
  {
    name: 'Anthropic Messages',
    read: readAnthropic,
    whole: fixture('anthropic'),
    text: ['Bonjour', ' à tous 😀,', ' 世界 €5.'],
    endMarker: 'event: message_stop\n',
    error: {
      stream: fixture('anthropic-error'),
      text: ['Once upon'],
      code: 'overloaded_error',
      message: 'Overloaded',
    },
    eventLine: (data) => `event: content_block_delta\ndata: ${data}\n\n`,
  },
];

/** The stream up to (not including) its end marker's event. */
export function withoutEnd(c: ReaderCase): string {
  const at = c.whole.lastIndexOf(c.endMarker);
  if (at < 0) throw new Error(`${c.name}: no end marker in the fixture`);
  return c.whole.slice(0, at);
}
