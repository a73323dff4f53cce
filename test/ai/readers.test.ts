/**
 * What the three provider readers share: whole, byte by byte and randomly cut streams read the
 * same; the end marker ends a stream and nothing else does; every failure is a typed
 * ProviderStreamError. Format-specific events are in the per-provider test files.
 */
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isProviderStreamError, ProviderStreamError, type ServerSentEvent } from '../../src/ai/index.js';
import { EventStreamParser } from '../../src/protocol/stream.js';
import { cuts, FC } from '../protocol/arbitraries.js';
import { cases, chunked, drain, encoder, eventStreamResponse, everyByte, withoutEnd } from './helpers.js';

/** The error a drained reader ended with, checked to be a ProviderStreamError. */
function providerError(error: unknown): ProviderStreamError {
  expect(isProviderStreamError(error), String(error)).toBe(true);
  return error as ProviderStreamError;
}

describe.each(cases)('$name', (c) => {
  it('reads a whole stream: its events, then its text deltas, and ends at the end marker', async () => {
    const events = await drain(c.read(eventStreamResponse(c.whole)));
    expect(events.error).toBeUndefined();
    expect(events.items.length).toBeGreaterThan(c.text.length);
    const text = await drain(c.read(eventStreamResponse(c.whole)).text());
    expect(text).toEqual({ items: c.text });
  });

  it('reads the same stream fed one byte at a time, multi-byte characters cut in every place', async () => {
    const whole = await drain(c.read(chunked(c.whole)));
    const byByte = await drain(c.read(chunked(c.whole, everyByte(c.whole))));
    expect(byByte).toEqual(whole);
    expect((await drain(c.read(chunked(c.whole, everyByte(c.whole))).text())).items).toEqual(c.text);
  });

  it('reads the same stream however it is cut (random splits, seeded)', async () => {
    const whole = await drain(c.read(chunked(c.whole)));
    const length = encoder.encode(c.whole).length;
    await fc.assert(
      fc.asyncProperty(cuts(length), async (at) => {
        expect(await drain(c.read(chunked(c.whole, at)))).toEqual(whole);
      }),
      { ...FC, numRuns: 100 },
    );
  });

  it('turns an error event in the middle of the stream into a typed error, after the text before it', async () => {
    const { items, error } = await drain(c.read(eventStreamResponse(c.error.stream)).text());
    expect(items).toEqual(c.error.text);
    const e = providerError(error);
    expect([e.type, e.code, e.message]).toEqual(['provider', c.error.code, c.error.message]);
    expect(e).toBeInstanceOf(ProviderStreamError);
  });

  it('fails a stream cut before its end marker with type incomplete, never a silent end', async () => {
    const cut = withoutEnd(c);
    const { items, error } = await drain(c.read(eventStreamResponse(cut)).text());
    expect(items).toEqual(c.text);
    expect(providerError(error).type).toBe('incomplete');
    // The end marker's event without its blank line is not dispatched (WHATWG HTML §9.2.6):
    // the stream is still cut short.
    const unfinished = c.whole.slice(0, c.whole.lastIndexOf('\n\n') + 1);
    expect(providerError((await drain(c.read(chunked(unfinished)))).error).type).toBe('incomplete');
    // An empty stream, and a response without a body, are cut short too.
    expect(providerError((await drain(c.read(eventStreamResponse('')))).error).type).toBe('incomplete');
    expect(providerError((await drain(c.read(eventStreamResponse(null as never)))).error).type).toBe(
      'incomplete',
    );
  });

  it('stops at the end marker: what follows is never read, and the body is cancelled', async () => {
    const trailing = `${c.whole}data: {not json\n\n`.repeat(3);
    const body = chunked(
      trailing,
      everyByte(c.whole).filter((i) => i % 64 === 0),
    );
    const { items, error } = await drain(c.read(body).text());
    expect(error).toBeUndefined();
    expect(items).toEqual(c.text);
    expect(body.cancelled()).toBe(true);
  });

  it('cancels the body when the consumer stops early', async () => {
    const body = chunked(
      c.whole,
      everyByte(c.whole).filter((i) => i % 32 === 0),
    );
    for await (const _ of c.read(body).text()) break;
    expect(body.cancelled()).toBe(true);
  });

  it('refuses a non-2xx response with its status, the provider code and a bounded body excerpt', async () => {
    const json = JSON.stringify({
      type: 'error',
      error: { type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'Slow down.' },
      padding: 'x'.repeat(10_000),
    });
    const error = providerError(
      (
        await drain(
          c.read(new Response(json, { status: 429, headers: { 'content-type': 'application/json' } })),
        )
      ).error,
    );
    expect([error.type, error.status]).toEqual(['http', 429]);
    expect(error.body).toBe(json.slice(0, 1024));
    // A body cut at 1024 characters is no JSON: the excerpt is kept, the code is unknown.
    expect(error.code).toBeUndefined();
    const small = JSON.stringify({ error: { message: 'Overloaded', type: 'overloaded_error' } });
    const overloaded = providerError((await drain(c.read(new Response(small, { status: 529 })))).error);
    expect([overloaded.type, overloaded.status, overloaded.code, overloaded.body]).toEqual([
      'http',
      529,
      'overloaded_error',
      small,
    ]);
    expect(overloaded.message).toContain('Overloaded');
    const plain = providerError((await drain(c.read(new Response('Bad Gateway', { status: 502 })))).error);
    expect([plain.type, plain.status, plain.body, plain.code]).toEqual([
      'http',
      502,
      'Bad Gateway',
      undefined,
    ]);
  });

  it('reads and decodes a bounded start of a refused body, however long it is', async () => {
    const body = chunked('é'.repeat(1_000_000), [1000, 2000, 3000, 4000, 5000, 6000]);
    const error = providerError((await drain(c.read(new Response(body, { status: 500 })))).error);
    expect(error.body).toBe('é'.repeat(1024));
    expect(body.pulls()).toBeLessThanOrEqual(4);
    expect(body.cancelled()).toBe(true);
    // One huge chunk: only its start is decoded.
    const decode = vi.spyOn(TextDecoder.prototype, 'decode');
    try {
      const huge = providerError(
        (await drain(c.read(new Response(chunked('x'.repeat(1 << 20)), { status: 500 })))).error,
      );
      expect(huge.body).toBe('x'.repeat(1024));
      const sizes = decode.mock.calls.map(([input]) => (input as Uint8Array | undefined)?.byteLength ?? 0);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    } finally {
      decode.mockRestore();
    }
  });

  it('refuses a 2xx response that is not text/event-stream', async () => {
    const json = new Response('{"id":"x"}', { headers: { 'content-type': 'application/json' } });
    const error = providerError((await drain(c.read(json))).error);
    expect([error.type, error.status, error.body]).toEqual(['content-type', 200, '{"id":"x"}']);
    const none = new Response(c.whole);
    none.headers.delete('content-type');
    expect(providerError((await drain(c.read(none))).error).type).toBe('content-type');
    // The MIME type is compared by its essence, whatever its case and parameters.
    const upper = eventStreamResponse(c.whole, {
      headers: { 'content-type': 'Text/Event-Stream;charset=UTF-8' },
    });
    expect((await drain(c.read(upper).text())).items).toEqual(c.text);
  });

  it('names malformed JSON in a data line, bounded, with the SyntaxError as cause', async () => {
    const bad = `{"type": "content_block_delta", "delta": ${'['.repeat(500)}`;
    const stream = `${withoutEnd(c).split('\n\n').slice(0, 2).join('\n\n')}\n\n${c.eventLine(bad)}`;
    const { error } = await drain(c.read(eventStreamResponse(stream)));
    const e = providerError(error);
    expect([e.type, e.data]).toEqual(['invalid-json', bad.slice(0, 200)]);
    expect(e.message).toContain(bad.slice(0, 50));
    expect(e.cause).toBeInstanceOf(SyntaxError);
    // JSON, but not an object: no field of the format can be read from it.
    for (const data of ['42', '"text"', 'null', '[1]']) {
      const notObject = providerError((await drain(c.read(eventStreamResponse(c.eventLine(data))))).error);
      expect([notObject.type, notObject.data]).toEqual(['invalid-json', data]);
    }
  });

  it('is bounded by maxBufferSize: a longer event fails with max-buffer-size-exceeded, after the events before it', async () => {
    const long = c.eventLine(JSON.stringify({ type: 'content_block_delta', pad: 'x'.repeat(5000) }));
    const stream = withoutEnd(c) + long + c.whole.slice(withoutEnd(c).length);
    const { items, error } = await drain(c.read(eventStreamResponse(stream), { maxBufferSize: 4096 }).text());
    expect(items).toEqual(c.text);
    const e = providerError(error);
    expect(e.type).toBe('max-buffer-size-exceeded');
    expect(e.cause).toMatchObject({ name: 'ParseError', type: 'max-buffer-size-exceeded' });
    // Under the default bound the same stream reads to its end.
    expect((await drain(c.read(eventStreamResponse(stream)).text())).error).toBeUndefined();
  });

  it('reports a body that breaks off as incomplete, with the read error as cause', async () => {
    const broken = new TypeError('terminated');
    const bytes = encoder.encode(c.whole.slice(0, 300));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.error(broken);
      },
    });
    const e = providerError((await drain(c.read(body))).error);
    expect([e.type, e.cause]).toEqual(['incomplete', broken]);
  });

  it("lets the caller's own abort through as it is", async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(encoder.encode(c.whole.slice(0, 300)));
        controller.signal.addEventListener('abort', () => stream.error(controller.signal.reason));
      },
    });
    const reading = drain(c.read(body));
    controller.abort();
    const { error } = await reading;
    expect(isProviderStreamError(error)).toBe(false);
    expect((error as Error).name).toBe('AbortError');
  });

  it("lets the caller's timeout (AbortSignal.timeout) through as it is", async () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(encoder.encode(c.whole.slice(0, 300)));
        stream.error(timeout);
      },
    });
    const { error } = await drain(c.read(body));
    expect(isProviderStreamError(error)).toBe(false);
    expect(error).toBe(timeout);
  });

  it('reads a body already decoded to text (a TextDecoderStream)', async () => {
    const text = chunked(
      c.whole,
      everyByte(c.whole).filter((i) => i % 5 === 0),
    ).pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>);
    expect(await drain(c.read(text).text())).toEqual({ items: c.text });
  });

  it('reads events already parsed (an EventStreamParser, an async iterable such as connect())', async () => {
    const events = chunked(c.whole).pipeThrough(new EventStreamParser());
    expect((await drain(c.read(events).text())).items).toEqual(c.text);
    // An async iterable of events, returned (closed) once the end marker is read.
    let returned = false;
    const parsed = (await drain(chunked(c.whole).pipeThrough(new EventStreamParser()))).items;
    const iterable: AsyncIterable<ServerSentEvent> = {
      async *[Symbol.asyncIterator]() {
        try {
          yield* parsed;
          yield { event: 'message', data: '{not json', id: '' };
        } finally {
          returned = true;
        }
      },
    };
    expect((await drain(c.read(iterable).text())).items).toEqual(c.text);
    expect(returned).toBe(true);
    const cut = (await drain(chunked(withoutEnd(c)).pipeThrough(new EventStreamParser()))).items;
    async function* cutIterable(): AsyncGenerator<ServerSentEvent> {
      yield* cut;
    }
    expect(providerError((await drain(c.read(cutIterable()))).error).type).toBe('incomplete');
  });

  it('reads nothing until iterated, and reads a body once', async () => {
    const body = chunked(c.whole);
    const stream = c.read(eventStreamResponse(body));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(body.pulls()).toBe(0);
    expect((await drain(stream.text())).items).toEqual(c.text);
    expect((await drain(stream)).error).toBeInstanceOf(TypeError);
  });
});

describe('ProviderStreamError', () => {
  it('carries its provider, type and details, and its guard works across realms', () => {
    const cause = new SyntaxError('x');
    const error = new ProviderStreamError('anthropic', 'invalid-json', 'bad', { data: '{', cause });
    expect([error.name, error.provider, error.type, error.data, error.cause]).toEqual([
      'ProviderStreamError',
      'anthropic',
      'invalid-json',
      '{',
      cause,
    ]);
    expect(error).toBeInstanceOf(Error);
    expect('status' in error).toBe(false);
    const foreign = runInNewContext('const e = new Error("x"); e.name = "ProviderStreamError"; e');
    expect(foreign instanceof ProviderStreamError).toBe(false);
    expect(isProviderStreamError(foreign)).toBe(true);
    for (const value of [null, undefined, 'ProviderStreamError', 42, { name: 'ParseError' }]) {
      expect(isProviderStreamError(value)).toBe(false);
    }
  });
});
