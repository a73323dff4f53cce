/**
 * The core the provider readers share: a `Response`, a byte stream or parsed events in, the
 * format's typed events out, ended by the format's end marker and by nothing else. Each format
 * (openai-chat.ts, openai-responses.ts, anthropic.ts) is a small {@link Format}: what one event
 * means, and which events carry answer text.
 */
import { hasName, type ParseError } from '../protocol/errors.js';
import { createTextParser, type ParserOptions } from '../protocol/parse.js';
import type { ServerSentEvent } from '../protocol/types.js';
import { type AIProvider, ProviderStreamError } from './errors.js';

/**
 * What a reader reads: a `fetch` `Response` (its status and `Content-Type` are checked first),
 * its body as a stream of bytes (or of text, after a `TextDecoderStream`), or events that are
 * already parsed (a `connect()` connection, an `EventStreamParser`'s output).
 */
export type ProviderStreamSource =
  | Response
  | ReadableStream<Uint8Array>
  | ReadableStream<string>
  | ReadableStream<ServerSentEvent>
  | AsyncIterable<ServerSentEvent>;

/** What a stream source's chunks may be. */
type Chunk = Uint8Array | string | ServerSentEvent;

/** Options of the provider readers. */
export interface ReadProviderOptions {
  /**
   * Most characters held for one line or one event of the stream (the parser's bound, see
   * `createParser`); past it the reader fails with type `'max-buffer-size-exceeded'`. Default 4 Mi.
   */
  maxBufferSize?: number;
}

/**
 * A provider's stream, read once: iterate it for the typed events, or call `text()` for the
 * answer's text pieces only. Either way it ends at the format's end marker, and throws a
 * `ProviderStreamError` for anything else: a provider error, a stream cut short, bad JSON.
 * Nothing is fetched or read until iteration starts; `break` cancels the body.
 */
export interface ProviderStream<E> extends AsyncIterable<E> {
  /** The text deltas of the answer, in order, each non-empty. */
  text(): AsyncIterable<string>;
}

/** What a format makes of one event: skip it (undefined), yield it, and whether it is the last. */
export type Step<E> = { value?: E; done?: boolean } | undefined;

/** One provider's stream format. */
export interface Format<E> {
  provider: AIProvider;
  /** The end marker, named in the `'incomplete'` error's message. */
  end: string;
  /** Reads one event; throws a `ProviderStreamError` for an error the provider sent. */
  read(event: ServerSentEvent): Step<E>;
  /** The answer text an event carries, if any. */
  text(event: E): string | undefined;
}

/** A JSON object, as read from an event's data. */
export type JSONObject = Record<string, unknown>;

/** Characters of an event's data kept in an `'invalid-json'` error. */
const DATA_EXCERPT = 200;
/** Characters of a refused response's body kept in an `'http'` or `'content-type'` error. */
const BODY_EXCERPT = 1024;

/** Builds the reader a format's `read*` function returns. */
export function providerStream<E>(
  source: ProviderStreamSource,
  format: Format<E>,
  options: ReadProviderOptions = {},
): ProviderStream<E> {
  const events = () => read(source, format, options);
  return {
    [Symbol.asyncIterator]: events,
    async *text() {
      for await (const event of events()) {
        const text = format.text(event);
        // Only text: a field of another type in the provider's JSON is not passed on as text.
        if (typeof text === 'string' && text) yield text;
      }
    },
  };
}

async function* read<E>(
  source: ProviderStreamSource,
  format: Format<E>,
  options: ReadProviderOptions,
): AsyncGenerator<E, void, undefined> {
  const parsed =
    'getReader' in source || !(Symbol.asyncIterator in source)
      ? serverSentEvents(source, format.provider, options)
      : source;
  // Returning from this loop (the end marker, or the consumer's `break`) returns the source's
  // iterator, which cancels the body: nothing after the end marker is read.
  for await (const event of parsed) {
    const step = format.read(event);
    if (step?.value !== undefined) yield step.value;
    if (step?.done) return;
  }
  throw new ProviderStreamError(format.provider, 'incomplete', `the stream ended before ${format.end}`);
}

/** The events of a response or byte stream, parsed with the protocol layer's bounded parser. */
async function* serverSentEvents(
  source: Response | ReadableStream<Chunk>,
  provider: AIProvider,
  options: ReadProviderOptions,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const body = 'getReader' in source ? source : await check(source, provider);
  if (!body) throw new ProviderStreamError(provider, 'incomplete', 'the response has no body');
  const reader = body.getReader();
  // Event streams are UTF-8 (WHATWG HTML §9.2.6); `stream: true` holds a character cut between
  // two chunks until its last byte comes.
  const decoder = new TextDecoder();
  const queue: ServerSentEvent[] = [];
  let overflow: { error: ParseError; at: number } | undefined;
  const parserOptions: ParserOptions = {};
  if (options.maxBufferSize !== undefined) parserOptions.maxBufferSize = options.maxBufferSize;
  const parser = createTextParser(
    {
      onEvent: (event) => queue.push(event),
      // Remember where: the events parsed before the oversized one still go out, none after.
      onError: (error) => {
        overflow ??= { error, at: queue.length };
      },
    },
    parserOptions,
  );
  let ended = false;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Chunk>;
      try {
        chunk = await reader.read();
      } catch (error) {
        // The caller's own abort (or timeout) stays what it is; anything else cut the stream.
        if (hasName(error, ['AbortError', 'TimeoutError'])) throw error;
        throw new ProviderStreamError(provider, 'incomplete', 'the stream broke off', { cause: error });
      }
      ended = chunk.done;
      // At the end, a block without its blank line is discarded, as §9.2.6 says: the format's
      // end marker then never came, and the reader reports the stream as incomplete.
      if (chunk.done) parser.feed(decoder.decode());
      else if (ArrayBuffer.isView(chunk.value)) parser.feed(decoder.decode(chunk.value, { stream: true }));
      else if (typeof chunk.value === 'string') parser.feed(chunk.value);
      // A stream of parsed events (an EventStreamParser's output): nothing to parse.
      else queue.push(chunk.value);
      const ready = queue.splice(0, overflow ? overflow.at : queue.length);
      for (const event of ready) yield event;
      if (overflow) {
        throw new ProviderStreamError(provider, 'max-buffer-size-exceeded', overflow.error.message, {
          cause: overflow.error,
        });
      }
      if (ended) return;
    }
  } finally {
    // Stopped early (end marker, error, `break`): release the connection.
    if (!ended) reader.cancel().catch(() => {});
  }
}

/**
 * The body of a response that is a 2xx `text/event-stream`; throws otherwise, with the status
 * and the start of the body (where providers put their JSON error).
 */
async function check(response: Response, provider: AIProvider): Promise<ReadableStream<Chunk> | null> {
  const { status, headers } = response;
  const type = headers.get('content-type');
  const ok = status >= 200 && status < 300;
  // The MIME type's essence, whatever its parameters (`; charset=utf-8`).
  if (ok && type && /^\s*text\/event-stream\s*(;|$)/i.test(type)) return response.body;
  const body = await excerpt(response.body);
  if (ok) {
    throw new ProviderStreamError(provider, 'content-type', `Content-Type ${type}, not text/event-stream`, {
      status,
      body,
    });
  }
  let error: unknown;
  try {
    error = (JSON.parse(body) as JSONObject).error;
  } catch {}
  const { code, message } = errorFields(error);
  throw new ProviderStreamError(provider, 'http', `HTTP ${status}${message ? `: ${message}` : ''}`, {
    status,
    body,
    ...(code === undefined ? {} : { code }),
  });
}

/**
 * The first {@link BODY_EXCERPT} characters of a body. Each chunk is decoded from its first
 * 4 bytes per character kept at most, so one huge chunk costs no more than a small one.
 */
async function excerpt(body: ReadableStream<Chunk> | null): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < BODY_EXCERPT) {
      const { done, value } = await reader.read();
      if (done) break;
      if (ArrayBuffer.isView(value))
        text += decoder.decode(value.subarray(0, 4 * BODY_EXCERPT), { stream: true });
    }
  } catch {
    // The body broke off while read for diagnostics only: the status is the error.
  }
  reader.cancel().catch(() => {});
  return text.slice(0, BODY_EXCERPT);
}

/** An event's data as a JSON object, or an `'invalid-json'` error naming it. */
export function parseData(provider: AIProvider, event: ServerSentEvent): JSONObject {
  let value: unknown;
  let cause: unknown;
  try {
    value = JSON.parse(event.data);
  } catch (error) {
    cause = error;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as JSONObject;
  const data = event.data.slice(0, DATA_EXCERPT);
  throw new ProviderStreamError(provider, 'invalid-json', `event data is not a JSON object: ${data}`, {
    data,
    cause,
  });
}

/** `code` and `message` of a provider's error object, each when it is a string. */
function errorFields(error: unknown): { code?: string; message?: string } {
  if (typeof error !== 'object' || error === null) return {};
  const { code, type, message } = error as JSONObject;
  // OpenAI has both (`type: 'server_error'`, `code: null` or a finer one); Anthropic has `type`.
  const name = typeof code === 'string' ? code : typeof type === 'string' ? type : undefined;
  return {
    ...(name === undefined ? {} : { code: name }),
    ...(typeof message === 'string' ? { message } : {}),
  };
}

/** The `'provider'` error for an error object a provider sent in its stream. */
export function providerError(provider: AIProvider, error: unknown, fallback: string): ProviderStreamError {
  const { code, message } = errorFields(error);
  return new ProviderStreamError(
    provider,
    'provider',
    message ?? fallback,
    code === undefined ? {} : { code },
  );
}
