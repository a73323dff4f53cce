/**
 * Reconnect when the network returns (#16): `online`, or the page shown again, ends the wait
 * before the next attempt at once. Fake timers never pass a minute-long backoff here, so a
 * request after the event can only be the event's doing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConnectOptions, connect } from '../../src/client/connect.js';
import { EventSource } from '../../src/client/event-source.js';
import { mockFetch, stream } from './mock-fetch.js';

/** An EventTarget that counts its listeners per type, as a page's window and document do. */
class Target extends EventTarget {
  readonly listeners = new Map<string, number>();
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null): void {
    this.listeners.set(type, (this.listeners.get(type) ?? 0) + 1);
    super.addEventListener(type, listener);
  }
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null): void {
    this.listeners.set(type, (this.listeners.get(type) ?? 0) - 1);
    super.removeEventListener(type, listener);
  }
}

let scope: Target;
let doc: Target & { hidden: boolean; baseURI: string };
const flush = () => vi.advanceTimersByTimeAsync(0);
// A minute of backoff: far more than any test waits, as fake time never moves on its own.
const base: ConnectOptions = { reconnect: { initialDelay: 60_000, maxDelay: 600_000, jitter: 0 } };
const fire = (target: EventTarget, type: string) => target.dispatchEvent(new Event(type));
const setHidden = (hidden: boolean) => {
  doc.hidden = hidden;
  fire(doc, 'visibilitychange');
};

beforeEach(() => {
  vi.useFakeTimers();
  scope = new Target();
  doc = Object.assign(new Target(), { hidden: false, baseURI: 'http://test.invalid/' });
  // A page's globals: `online` is fired on the window (globalThis), visibility on the document.
  vi.stubGlobal('addEventListener', scope.addEventListener.bind(scope));
  vi.stubGlobal('removeEventListener', scope.removeEventListener.bind(scope));
  vi.stubGlobal('document', doc);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

/** Fails the first `failures` calls with a network error, then streams one event and stays open. */
const failThenOpen = (failures: number) =>
  mockFetch((n) =>
    n <= failures
      ? new TypeError('fetch failed')
      : (signal) => stream(signal, [`id: ${n}\ndata: ${n}\n\n`], true),
  );

describe('connect: reconnects at once when the network returns or the page shows', () => {
  it('online ends the wait at once, and the next attempt resumes with Last-Event-ID', async () => {
    const mock = mockFetch((n) => (signal) => stream(signal, [`id: ${n}\ndata: ${n}\n\n`], n > 1));
    const retries: number[] = [];
    const c = connect('/feed', { ...base, fetch: mock.fetch, onReconnect: (ms) => void retries.push(ms) });
    await flush();
    // The stream ended: waiting a minute before the next attempt.
    expect(mock.calls).toHaveLength(1);
    expect(retries).toEqual([60_000]);
    expect(c.readyState).toBe(0);
    fire(scope, 'online');
    await flush();
    expect(mock.calls).toHaveLength(2);
    expect(mock.calls[1]!.headers.get('last-event-id')).toBe('1');
    expect(c.readyState).toBe(1);
    c.close();
  });

  it('online ends a backoff after failures in a row', async () => {
    const mock = failThenOpen(2);
    const retries: number[] = [];
    const c = connect('/feed', { ...base, fetch: mock.fetch, onReconnect: (ms) => void retries.push(ms) });
    await flush();
    expect(retries).toEqual([120_000]);
    fire(scope, 'online');
    await flush();
    // Offline again: the backoff grows, and online ends it again.
    expect(retries).toEqual([120_000, 180_000]);
    expect(mock.calls).toHaveLength(2);
    fire(scope, 'online');
    await flush();
    expect(mock.calls).toHaveLength(3);
    expect(c.readyState).toBe(1);
    c.close();
  });

  it('online ends a wait that Retry-After asked for too (the network was what failed)', async () => {
    const mock = mockFetch((n) =>
      n === 1
        ? new Response(null, { status: 503, headers: { 'retry-after': '3600' } })
        : (signal) => stream(signal, ['data: back\n\n'], true),
    );
    const retries: number[] = [];
    const c = connect('/feed', { ...base, fetch: mock.fetch, onReconnect: (ms) => void retries.push(ms) });
    await flush();
    expect(retries).toEqual([3_600_000]);
    fire(scope, 'online');
    await flush();
    expect(mock.calls).toHaveLength(2);
    c.close();
  });

  it('a page shown again ends a backoff wait at once; hiding it does not, and an open stream is left alone', async () => {
    const mock = failThenOpen(1);
    const c = connect('/feed', { ...base, fetch: mock.fetch });
    await flush();
    expect(mock.calls).toHaveLength(1);
    setHidden(true);
    await flush();
    expect(mock.calls).toHaveLength(1);
    setHidden(false);
    await flush();
    expect(mock.calls).toHaveLength(2);
    expect(c.readyState).toBe(1);
    // Open: neither event touches the stream.
    setHidden(true);
    setHidden(false);
    fire(scope, 'online');
    await flush();
    expect(mock.calls).toHaveLength(2);
    expect(c.readyState).toBe(1);
    c.close();
  });

  it('with pauseWhenHidden, online while hidden leaves the pause alone', async () => {
    doc.hidden = true;
    const mock = failThenOpen(0);
    const c = connect('/feed', { ...base, fetch: mock.fetch, pauseWhenHidden: true });
    await flush();
    fire(scope, 'online');
    await flush();
    expect(mock.calls).toHaveLength(0);
    setHidden(false);
    await flush();
    expect(mock.calls).toHaveLength(1);
    c.close();
  });

  it.each([
    ['close()', (c: { close(): void }) => c.close()],
    ['the end of the connection (a 204)', () => {}],
  ])('listeners are removed on %s: no leak, and no request after', async (_name, end) => {
    const mock = mockFetch((n) =>
      n === 1 ? new TypeError('fetch failed') : new Response(null, { status: 204 }),
    );
    const c = connect('/feed', { ...base, fetch: mock.fetch });
    await flush();
    expect(scope.listeners.get('online')).toBe(1);
    expect(doc.listeners.get('visibilitychange')).toBe(1);
    end(c);
    // Ended by the test, or woken into the 204 that ends it.
    if (c.readyState !== 2) fire(scope, 'online');
    await flush();
    expect(c.readyState).toBe(2);
    expect(scope.listeners.get('online')).toBe(0);
    expect(doc.listeners.get('visibilitychange')).toBe(0);
    const calls = mock.calls.length;
    fire(scope, 'online');
    setHidden(false);
    await flush();
    expect(mock.calls).toHaveLength(calls);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('listens to nothing where the globals have no addEventListener (Node, no document)', async () => {
    vi.unstubAllGlobals();
    expect((globalThis as { addEventListener?: unknown }).addEventListener).toBeUndefined();
    const mock = failThenOpen(1);
    const c = connect('http://test.invalid/feed', { ...base, fetch: mock.fetch });
    await flush();
    expect(mock.calls).toHaveLength(1);
    expect(scope.listeners.size + doc.listeners.size).toBe(0);
    c.close();
  });
});

describe('EventSource: reconnects at once when the network returns', () => {
  it('online ends the wait for the next attempt', async () => {
    const mock = failThenOpen(1);
    const log: string[] = [];
    const source = new EventSource('/feed', { fetch: mock.fetch });
    source.onerror = () => void log.push(`error ${source.readyState}`);
    source.onopen = () => void log.push('open');
    await flush();
    expect(log).toEqual(['error 0']);
    fire(scope, 'online');
    await flush();
    expect(log).toEqual(['error 0', 'open']);
    expect(mock.calls).toHaveLength(2);
    source.close();
    expect(scope.listeners.get('online')).toBe(0);
  });
});
