import { createParser, type ParseError, type ParserOptions, type ServerSentEvent } from '../../src/index.js';

export type Record =
  | { kind: 'event'; event: ServerSentEvent }
  | { kind: 'retry'; ms: number }
  | { kind: 'comment'; text: string }
  | { kind: 'error'; error: ParseError };

/** Feeds the chunks in order and records everything the parser reports, in order. */
export function parseChunks(chunks: Iterable<string | Uint8Array>, options?: ParserOptions): Record[] {
  const out: Record[] = [];
  const parser = createParser(
    {
      onEvent: (event) => out.push({ kind: 'event', event }),
      onRetry: (ms) => out.push({ kind: 'retry', ms }),
      onComment: (text) => out.push({ kind: 'comment', text }),
      onError: (error) => out.push({ kind: 'error', error }),
    },
    options,
  );
  for (const chunk of chunks) parser.feed(chunk);
  return out;
}

/** Only the events of a whole stream fed at once. */
export function events(stream: string | string[]): ServerSentEvent[] {
  return parseChunks(typeof stream === 'string' ? [stream] : stream)
    .filter((r) => r.kind === 'event')
    .map((r) => (r as { event: ServerSentEvent }).event);
}

export const msg = (data: string, id = '', event = 'message'): ServerSentEvent => ({ event, data, id });

/** Cuts `input` at the given sorted positions. */
export function cutAt<T extends string | Uint8Array>(input: T, cuts: number[]): T[] {
  const parts: T[] = [];
  let prev = 0;
  for (const c of cuts) {
    parts.push(input.slice(prev, c) as T);
    prev = c;
  }
  parts.push(input.slice(prev) as T);
  return parts;
}
