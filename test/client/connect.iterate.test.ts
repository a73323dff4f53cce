import { describe, expect, it, vi } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { mockFetch, stream } from './mock-fetch.js';

/** An endless event stream that produces one chunk of 100 events each time it is pulled. */
function endless(signal: AbortSignal): { response: Response; pulls: () => number } {
  let pulls = 0;
  let n = 0;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        let text = '';
        for (let i = 0; i < 100; i++) text += `id: ${n}\ndata: ${n++}\n\n`;
        controller.enqueue(encoder.encode(text));
      },
    },
    { highWaterMark: 0 },
  );
  signal.addEventListener('abort', () => void body.cancel().catch(() => {}));
  return {
    response: new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
    pulls: () => pulls,
  };
}

describe('connect: async iteration', () => {
  it('applies backpressure: a paused consumer stops the reading, a resumed one restarts it', async () => {
    vi.useFakeTimers();
    try {
      let source!: ReturnType<typeof endless>;
      const mock = mockFetch(() => (signal) => {
        source = endless(signal);
        return source.response;
      });
      const c = connect('http://test.invalid/', { fetch: mock.fetch });
      const iterator = c[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toMatchObject({ data: '0' });
      // However long the consumer dawdles, the reader has stopped after a chunk or two.
      await vi.advanceTimersByTimeAsync(60_000);
      const paused = source.pulls();
      expect(paused).toBeLessThanOrEqual(3);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(source.pulls()).toBe(paused);
      // Taking events resumes the reading; order and ids are intact.
      for (let i = 1; i < 1000; i++) {
        const { value } = await iterator.next();
        expect(value).toEqual({ event: 'message', data: String(i), id: String(i) });
      }
      expect(source.pulls()).toBeGreaterThanOrEqual(10);
      expect(source.pulls()).toBeLessThanOrEqual(13);
      await iterator.return!();
      expect(c.readyState).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('without onEvent, events are queued from the start for an iterator that comes late', async () => {
    const mock = mockFetch(() => (signal) => stream(signal, ['data: early\n\n', 'data: later\n\n']));
    const c = connect('http://test.invalid/', { fetch: mock.fetch, reconnect: false });
    await vi.waitFor(() => expect(c.readyState).toBe(2));
    const seen: string[] = [];
    for await (const event of c) seen.push(event.data);
    expect(seen).toEqual(['early', 'later']);
  });

  it('with onEvent, the callback sees every event and the iterator those after it started', async () => {
    let push!: (text: string) => void;
    const mock = mockFetch(() => (signal) => {
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          push = (text) => controller.enqueue(encoder.encode(text));
          signal.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    const called: string[] = [];
    const c = connect('http://test.invalid/', {
      fetch: mock.fetch,
      onEvent: (e) => void called.push(e.data),
    });
    await vi.waitFor(() => expect(c.readyState).toBe(1));
    push('data: before\n\n');
    await vi.waitFor(() => expect(called).toEqual(['before']));
    const iterator = c[Symbol.asyncIterator]();
    push('data: after\n\n');
    expect((await iterator.next()).value).toMatchObject({ data: 'after' });
    expect(called).toEqual(['before', 'after']);
    await iterator.return!();
  });

  it('a fatal error is thrown by the iterator after the events that came before it', async () => {
    const mock = mockFetch((n) =>
      n === 1
        ? (signal: AbortSignal) => stream(signal, ['retry: 0\ndata: a\n\ndata: b\n\n'])
        : new Response('gone', { status: 410 }),
    );
    const c = connect('http://test.invalid/', { fetch: mock.fetch });
    const seen: string[] = [];
    let thrown: unknown;
    try {
      for await (const event of c) seen.push(event.data);
    } catch (error) {
      thrown = error;
    }
    expect(seen).toEqual(['a', 'b']);
    expect(thrown).toMatchObject({ name: 'HttpError', status: 410, body: 'gone' });
    // The same error settles `closed`.
    await expect(c.closed).rejects.toBe(thrown);
  });
});
