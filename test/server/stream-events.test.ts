import { afterEach, describe, expect, it, vi } from 'vitest';
import { isEncodeError } from '../../src/index.js';
import {
  isStreamClosedError,
  SSE_HEADERS,
  type StreamClosedError,
  streamEvents,
} from '../../src/server/index.js';
import { BodyReader, turn } from '../helpers/body.js';
import { deferred } from '../helpers/server.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('streamEvents', () => {
  it('streams an async generator as events with the SSE headers', async () => {
    const response = streamEvents(
      async function* () {
        yield 'plain';
        yield { event: 'message', id: '7', data: JSON.stringify({ role: 'assistant', content: 'H' }) };
      },
      { heartbeat: false },
    );
    for (const [name, value] of Object.entries(SSE_HEADERS)) expect(response.headers.get(name)).toBe(value);
    const body = new BodyReader(response.body);
    await body.rest();
    expect(body.events).toEqual([
      { event: 'message', id: '', data: 'plain' },
      { event: 'message', id: '7', data: '{"role":"assistant","content":"H"}' },
    ]);
  });

  it('accepts a sync iterable', async () => {
    const body = new BodyReader(streamEvents(['a', 'b', 'c'], { heartbeat: false }).body);
    await body.rest();
    expect(body.events.map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('a disconnect calls return() on the iterator and aborts the signal given to the source', async () => {
    const cleanedUp = deferred();
    let sourceSignal: AbortSignal | undefined;
    const response = streamEvents(
      async function* (signal) {
        sourceSignal = signal;
        try {
          for (let i = 0; ; i++) {
            yield String(i);
            await turn();
          }
        } finally {
          cleanedUp.resolve();
        }
      },
      { heartbeat: false },
    );
    const body = new BodyReader(response.body);
    await body.until(() => body.events.length >= 3);
    await body.reader.cancel(new Error('gone'));
    await cleanedUp.promise;
    expect(sourceSignal!.aborted).toBe(true);
    expect((sourceSignal!.reason as StreamClosedError).type).toBe('client-gone');
  });

  it('return() reaches an iterator that is waiting on upstream work when the client leaves', async () => {
    const upstream = deferred<string>();
    const returned = deferred();
    const iterator: AsyncIterator<string> = {
      next: () => upstream.promise.then((value) => ({ value, done: false })),
      return: () => {
        returned.resolve();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    const response = streamEvents({ [Symbol.asyncIterator]: () => iterator }, { heartbeat: false });
    const body = new BodyReader(response.body);
    await body.next();
    await body.reader.cancel();
    await returned.promise;
    upstream.resolve('too late');
    await turn();
  });

  it('backpressure reaches the source: it is not pulled while the client is behind', async () => {
    let pulled = 0;
    const response = streamEvents(
      (function* () {
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield 'x'.repeat(100);
        }
      })(),
      { heartbeat: false, highWaterMark: 1024 },
    );
    for (let i = 0; i < 20; i++) await turn();
    // Nothing read: the source stopped near the mark (1024 bytes / ~108 per event), not at 10k.
    expect(pulled).toBeLessThan(30);
    const body = new BodyReader(response.body);
    await body.rest();
    expect(body.events).toHaveLength(10_000);
  });

  it('a source that throws: onError gets the error, errorEvent decides what the client sees, the stream closes cleanly', async () => {
    const failure = new Error('secret internal detail');
    const onError = vi.fn();
    const errorEvent = vi.fn(() => ({ event: 'error', data: 'the reply failed' }));
    const response = streamEvents(
      async function* () {
        yield 'partial';
        throw failure;
      },
      { heartbeat: false, onError, errorEvent },
    );
    const body = new BodyReader(response.body);
    await body.rest(); // ends normally: no rejection
    expect(onError.mock.calls).toEqual([[failure]]);
    expect(errorEvent.mock.calls).toEqual([[failure]]);
    expect(body.events.map((e) => [e.event, e.data])).toEqual([
      ['message', 'partial'],
      ['error', 'the reply failed'],
    ]);
    expect(body.text).not.toContain('secret');
  });

  it("onError's return value is ignored (as every server-side onError's); an errorEvent that throws is reported", async () => {
    const failure = new Error('boom');
    const errors: unknown[] = [];
    const response = streamEvents(
      async function* () {
        yield 'partial';
        throw failure;
      },
      {
        heartbeat: false,
        onError: ((error: unknown) => {
          errors.push(error);
          return { event: 'error', data: 'from onError' };
        }) as (error: unknown) => void,
        errorEvent: () => {
          throw new Error('errorEvent broke');
        },
      },
    );
    const body = new BodyReader(response.body);
    await body.rest();
    expect(body.text).toBe(':\n\ndata: partial\n\n');
    expect(errors).toEqual([failure, expect.objectContaining({ message: 'errorEvent broke' })]);
  });

  it('an errorEvent the encoder refuses is reported too, and the stream still ends cleanly without it', async () => {
    const failure = new Error('boom');
    const errors: unknown[] = [];
    const response = streamEvents(
      async function* () {
        yield 'partial';
        throw failure;
      },
      {
        heartbeat: false,
        onError: (error) => errors.push(error),
        errorEvent: () => ({ event: 'bad\ntype', data: 'x' }),
      },
    );
    const body = new BodyReader(response.body);
    await body.rest();
    expect(body.text).toBe(':\n\ndata: partial\n\n');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBe(failure);
    expect(errors[1]).toSatisfy(isEncodeError);
  });

  it('by default tells the client nothing (no stack trace) and logs the error', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const failure = new Error('secret internal detail');
    const response = streamEvents(
      async function* () {
        yield 'partial';
        throw failure;
      },
      { heartbeat: false },
    );
    const body = new BodyReader(response.body);
    await body.rest();
    expect(body.text).toBe(':\n\ndata: partial\n\n');
    expect(log).toHaveBeenCalledWith(expect.any(String), failure);
  });

  it('after a disconnect mid-item: a return() that throws is reported, and the later failure of the item too, with no errorEvent', async () => {
    const cleanupFailure = new Error('cleanup failed');
    const lateFailure = new Error('upstream failed after the client left');
    const errors: unknown[] = [];
    const errorEvent = vi.fn(() => ({ event: 'error', data: 'x' }));
    let failItem: (error: unknown) => void = () => {};
    const pending = new Promise<IteratorResult<string>>((_resolve, reject) => {
      failItem = reject;
    });
    const source: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => pending,
        return: () => {
          throw cleanupFailure;
        },
      }),
    };
    const response = streamEvents(source, { heartbeat: false, onError: (e) => errors.push(e), errorEvent });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(errors).toEqual([cleanupFailure]);
    failItem(lateFailure);
    await vi.waitFor(() => expect(errors).toEqual([cleanupFailure, lateFailure]));
    await turn();
    expect(errorEvent).not.toHaveBeenCalled();
  });

  it('the signal of a failed source aborts as source-error', async () => {
    let signal: AbortSignal | undefined;
    const response = streamEvents(
      (s) => {
        signal = s;
        return (async function* () {
          yield* [];
          throw new Error('boom');
        })();
      },
      { heartbeat: false, onError: () => undefined },
    );
    await new BodyReader(response.body).rest();
    expect(isStreamClosedError(signal!.reason)).toBe(true);
    expect((signal!.reason as StreamClosedError).type).toBe('source-error');
  });

  it('an item that would inject fields is refused: onError gets the EncodeError, the iterator is released', async () => {
    const onError = vi.fn(() => undefined);
    const released = deferred();
    const response = streamEvents(
      async function* () {
        try {
          yield { event: 'ok', data: '1' };
          yield { event: 'x\nevent: forged', data: '2' };
          yield { event: 'never', data: '3' };
        } finally {
          released.resolve();
        }
      },
      { heartbeat: false, onError },
    );
    const body = new BodyReader(response.body);
    await body.rest();
    await released.promise;
    expect(body.events.map((e) => e.event)).toEqual(['ok']);
    expect(isEncodeError((onError.mock.calls[0] as unknown[])[0])).toBe(true);
  });

  it('a source function that throws synchronously, an onError that throws, a return() that rejects: all reported, none unhandled', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const response = streamEvents(
      () => {
        throw new Error('no source');
      },
      {
        heartbeat: false,
        onError: () => {
          throw new Error('onError broke');
        },
      },
    );
    await new BodyReader(response.body).rest();
    expect(log).toHaveBeenCalledWith(
      expect.any(String),
      expect.objectContaining({ message: 'onError broke' }),
    );

    const errors: unknown[] = [];
    const cleanupFailed = deferred();
    const iterator: AsyncIterator<string> = {
      next: () => Promise.resolve({ value: 'v', done: false }),
      return: () => {
        queueMicrotask(() => cleanupFailed.resolve());
        return Promise.reject(new Error('cleanup failed'));
      },
    };
    const second = streamEvents(
      { [Symbol.asyncIterator]: () => iterator },
      {
        heartbeat: false,
        onError: (error) => {
          errors.push(error);
        },
      },
    );
    const body = new BodyReader(second.body);
    await body.until(() => body.events.length > 0);
    await body.reader.cancel();
    await cleanupFailed.promise;
    await turn();
    expect(errors).toEqual([expect.objectContaining({ message: 'cleanup failed' })]);
  });
});
