import { describe, expect, it } from 'vitest';
import { EventStreamParser, ParseError, type ServerSentEvent } from '../../src/index.js';

function source(chunks: (string | Uint8Array)[]): ReadableStream<string | Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

async function collect(stream: ReadableStream<ServerSentEvent>): Promise<ServerSentEvent[]> {
  const out: ServerSentEvent[] = [];
  for await (const e of stream as unknown as AsyncIterable<ServerSentEvent>) out.push(e);
  return out;
}

describe('EventStreamParser', () => {
  it('turns bytes into events, decoding UTF-8 cut between chunks', async () => {
    const bytes = new TextEncoder().encode('id: 1\ndata: \u20ac\n\nevent: x\ndata: 2\n\n');
    const events = await collect(
      source([bytes.slice(0, 13), bytes.slice(13)]).pipeThrough(new EventStreamParser()),
    );
    expect(events).toEqual([
      { event: 'message', data: '\u20ac', id: '1' },
      { event: 'x', data: '2', id: '1' },
    ]);
  });

  it('accepts text chunks and reports retry and comments', async () => {
    const retries: number[] = [];
    const comments: string[] = [];
    const events = await collect(
      source([': hi\nretry: 9\n', 'data: a\n\n']).pipeThrough(
        new EventStreamParser({ onRetry: (ms) => retries.push(ms), onComment: (c) => comments.push(c) }),
      ),
    );
    expect(events).toEqual([{ event: 'message', data: 'a', id: '' }]);
    expect(retries).toEqual([9]);
    expect(comments).toEqual(['hi']);
  });

  it('errors the stream with a ParseError on an oversized line by default', async () => {
    const stream = source(['data: ok\n\n', `data: ${'x'.repeat(100)}`]).pipeThrough(
      new EventStreamParser({ maxBufferSize: 50 }),
    );
    const reader = stream.getReader();
    expect(await reader.read()).toEqual({ done: false, value: { event: 'message', data: 'ok', id: '' } });
    await expect(reader.read()).rejects.toBeInstanceOf(ParseError);
  });

  it("errors the stream with onError: 'terminate', as eventsource-parser's stream does", async () => {
    const stream = source([`data: ${'x'.repeat(100)}\n\n`, 'data: ok\n\n']).pipeThrough(
      new EventStreamParser({ maxBufferSize: 50, onError: 'terminate' }),
    );
    await expect(stream.getReader().read()).rejects.toMatchObject({ type: 'max-buffer-size-exceeded' });
  });

  it("with 'terminate', drops the events after the error in the same chunk quietly: a writer sees no TypeError", async () => {
    // The rest of the chunk is still parsed after the stream errors; its events must not be
    // enqueued on the errored stream (that throws "Invalid state" out of the writer's write).
    const parser = new EventStreamParser({ maxBufferSize: 50 });
    const writer = parser.writable.getWriter();
    const reader = parser.readable.getReader();
    const written = writer.write(`data: ${'x'.repeat(100)}\n\ndata: after\n\n`).then(
      () => 'written',
      (error: unknown) => error,
    );
    await expect(reader.read()).rejects.toBeInstanceOf(ParseError);
    const outcome = await written;
    expect(outcome === 'written' || outcome instanceof ParseError, String(outcome)).toBe(true);
  });

  it('goes on past an oversized line when onError is given', async () => {
    const errors: ParseError[] = [];
    const events = await collect(
      source([`data: ${'x'.repeat(100)}\n\n`, 'data: ok\n\n']).pipeThrough(
        new EventStreamParser({ maxBufferSize: 50, onError: (e) => errors.push(e) }),
      ),
    );
    expect(events).toEqual([{ event: 'message', data: 'ok', id: '' }]);
    expect(errors.map((e) => e.type)).toEqual(['max-buffer-size-exceeded']);
  });

  it('does not dispatch an unterminated final block when the input ends', async () => {
    expect(await collect(source(['data: a\n\ndata: b\n']).pipeThrough(new EventStreamParser()))).toHaveLength(
      1,
    );
  });
});
