import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { type HttpError, IdleTimeoutError } from '../../src/client/errors.js';
import { manualFetch, mockFetch, stream } from './mock-fetch.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Lets pending promise chains run without moving the clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('connect: reconnection timing (fake timers, no sleeping)', () => {
  it('backs off exponentially with jitter and sends no request before the delay is over', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const mock = mockFetch(() => new Response(null, { status: 503 }));
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      onReconnect: (ms) => void delays.push(ms),
    });
    await flush();
    expect(mock.calls).toHaveLength(1);
    // initialDelay 1000, factor 2, full jitter at 0.5: 1000 + 0.5 * 1000 * 2^n, capped term 30 000.
    const expected = [1500, 2000, 3000, 5000, 9000, 16_000, 16_000];
    for (const [i, ms] of expected.entries()) {
      expect(delays[i]).toBe(ms);
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(mock.calls).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(mock.calls).toHaveLength(i + 2);
    }
    c.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('draws the jitter from Math.random within [reconnection time, + backoff term)', async () => {
    const draws = [0, 0.999, 0.25];
    vi.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 0);
    const mock = mockFetch(() => new Response(null, { status: 500 }));
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      reconnect: { initialDelay: 100, factor: 3 },
      onReconnect: (ms) => void delays.push(ms),
    });
    for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(10_000);
    expect(delays.slice(0, 3)).toEqual([200, 100 + Math.round(300 * 0.001), 100 + 900 * 0.75]);
    c.close();
  });

  it('honours Retry-After: seconds and HTTP-date, as a floor under the backoff', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    vi.setSystemTime(Date.UTC(2025, 0, 1, 12, 0, 0));
    const date = new Date(Date.now() + 45_000).toUTCString();
    const mock = mockFetch((n) =>
      n === 1
        ? new Response('slow down', { status: 429, headers: { 'retry-after': '10' } })
        : n === 2
          ? new Response(null, { status: 503, headers: { 'retry-after': date } })
          : new Response(null, { status: 503, headers: { 'retry-after': '0' } }),
    );
    const delays: number[] = [];
    const errors: unknown[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      onReconnect: (ms) => void delays.push(ms),
      onError: (e) => void errors.push(e),
    });
    await flush();
    expect(delays).toEqual([10_000]);
    expect((errors[0] as HttpError).retryAfter).toBe(10_000);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(mock.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(mock.calls).toHaveLength(2);
    // The date is 45 s after the start, 10 s have passed: 35 s from now.
    expect(delays[1]).toBe(35_000);
    await vi.advanceTimersByTimeAsync(35_000);
    expect(mock.calls).toHaveLength(3);
    // Retry-After: 0 is below the backoff (1000 + 1000 * 2^2 at jitter 0): the backoff wins.
    expect(delays[2]).toBe(5000);
    c.close();
  });

  it("uses the server's retry: field as the base and resets the backoff once events flow", async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const mock = mockFetch((n, call) => {
      if (n === 1) return (signal) => stream(signal, ['retry: 250\ndata: a\n\n']);
      if (n === 2 || n === 3) return new Response(null, { status: 502 });
      if (n === 4) return (signal) => stream(signal, ['data: b\n\n']);
      return (signal) => stream(signal, [`data: ${call.url}\n\n`], true);
    });
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      onReconnect: (ms) => void delays.push(ms),
    });
    for (let i = 0; i < 6; i++) await vi.advanceTimersByTimeAsync(5_000);
    // An open stream that ends waits the reconnection time exactly (250); failures in a row
    // back off, 250 + 250 * 2^n at jitter 0 (n = 1, 2: the end of the stream was the first).
    expect(delays).toEqual([250, 750, 1250, 250]);
    expect(mock.calls).toHaveLength(5);
    c.close();
  });

  it('after an open stream ends, waits exactly the reconnection time: no backoff, no jitter', async () => {
    // Full jitter by default: any draw but 0 would add to the delay if it applied.
    vi.spyOn(Math, 'random').mockReturnValue(0.7);
    const mock = mockFetch((n) => {
      if (n === 1) return (signal) => stream(signal, ['retry: 03000\ndata: a\n\n']);
      if (n === 2) return (signal) => stream(signal, []);
      if (n <= 4) return new Error('refused');
      return (signal) => stream(signal, ['data: b\n\n'], true);
    });
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      onReconnect: (ms) => void delays.push(ms),
    });
    await flush();
    expect(delays).toEqual([3000]);
    await vi.advanceTimersByTimeAsync(2999);
    expect(mock.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(mock.calls).toHaveLength(2);
    // Then failures in a row back off with jitter, 3000 + 0.3 * 3000 * 2^n: a stream that
    // ends again before any event (n = 1: the stream that delivered 'a' was the first), then
    // refused connections (n = 2, 3).
    for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(60_000);
    expect(delays).toEqual([3000, 3000 + 0.3 * 6000, 3000 + 0.3 * 12_000, 3000 + 0.3 * 24_000]);
    expect(mock.calls).toHaveLength(5);
    c.close();
  });

  it('the default reconnection time, after an open stream ends, is initialDelay exactly', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const mock = mockFetch(() => (signal) => stream(signal, ['data: a\n\n']));
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      reconnect: { initialDelay: 1234 },
      onReconnect: (ms) => void delays.push(ms),
    });
    for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(1234);
    expect(delays).toEqual([1234, 1234, 1234, 1234]);
    c.close();
  });

  it('onError can ask for an exact delay', async () => {
    const mock = mockFetch(() => new Response(null, { status: 404 }));
    const delays: number[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      onError: () => 42,
      onReconnect: (ms) => void delays.push(ms),
    });
    await vi.advanceTimersByTimeAsync(42 * 3 - 1);
    expect(delays).toEqual([42, 42, 42]);
    expect(mock.calls).toHaveLength(3);
    c.close();
  });

  it('idle timeout: a stalled stream is dropped and retried; heartbeats keep it alive', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const mock = manualFetch();
    const { feeds } = mock;
    const errors: unknown[] = [];
    const events: string[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      idleTimeout: 5000,
      reconnect: { initialDelay: 100 },
      onError: (e) => void errors.push(e),
      onEvent: (e) => void events.push(e.data),
    });
    await flush();
    // A comment every 4 s keeps the connection for a minute.
    for (let t = 0; t < 60_000; t += 4000) {
      feeds[0]!.push(': ping\n');
      await vi.advanceTimersByTimeAsync(4000);
    }
    expect(errors).toEqual([]);
    feeds[0]!.push('data: still here\n\n');
    await vi.advanceTimersByTimeAsync(4999);
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(IdleTimeoutError);
    expect(c.readyState).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(mock.calls).toHaveLength(2);
    expect(mock.calls[1]!.headers.get('last-event-id')).toBeNull();
    feeds[1]!.push('data: back\n\n');
    await flush();
    expect(events).toEqual(['still here', 'back']);
    c.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('idle timeout also covers a server that never sends its headers', async () => {
    // Like a server that accepted the connection and says nothing: fetch rejects only on abort.
    const pending = {
      fetch: (_url: string, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    };
    const errors: unknown[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: pending.fetch,
      idleTimeout: 1000,
      onError: (e) => {
        errors.push(e);
        return false;
      },
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(errors[0]).toBeInstanceOf(IdleTimeoutError);
    await expect(c.closed).rejects.toBeInstanceOf(IdleTimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([
    ['Infinity', Number.POSITIVE_INFINITY],
    ['2 ** 31', 2 ** 31],
  ])(
    'idle timeout %s waits the longest setTimeout keeps (24.8 days), not 1 ms',
    async (_name, idleTimeout) => {
      const mock = manualFetch();
      const errors: unknown[] = [];
      const c = connect('http://test.invalid/s', {
        fetch: mock.fetch,
        idleTimeout,
        onError: (e) => {
          errors.push(e);
          return false;
        },
      });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(errors).toEqual([]);
      expect(c.readyState).toBe(1);
      await vi.advanceTimersByTimeAsync(2 ** 31 - 1 - 60_001);
      expect(errors).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(errors[0]).toBeInstanceOf(IdleTimeoutError);
      await expect(c.closed).rejects.toBeInstanceOf(IdleTimeoutError);
    },
  );

  it('a lagging iterator pauses the idle timer instead of tripping it', async () => {
    const mock = manualFetch();
    const { feeds } = mock;
    const errors: unknown[] = [];
    const c = connect('http://test.invalid/s', {
      fetch: mock.fetch,
      idleTimeout: 1000,
      onError: (e) => void errors.push(e),
    });
    await flush();
    feeds[0]!.push('data: x\n\n'.repeat(200));
    await flush();
    // Nobody iterates yet: reading stops at the high-water mark, for as long as it takes.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(errors).toEqual([]);
    let n = 0;
    for await (const _ of c) if (++n === 200) break;
    expect(n).toBe(200);
  });
});
