import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Connection, type ConnectOptions, connect } from '../../src/client/connect.js';
import { type RecordedRequest, sse, startServer } from './helpers.js';
import { type MockFetch, manualStream, mockFetch, type Reply, stream } from './mock-fetch.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

/** Drains the iterator; resolves to the data seen (it must end, not throw). */
async function drain(c: Connection): Promise<string[]> {
  const seen: string[] = [];
  for await (const event of c) seen.push(event.data);
  return seen;
}

/**
 * Checks the promises of "abort in every state": the iterator ends cleanly, `closed` resolves,
 * readyState is CLOSED, no timer is left, and no further request is made however long we wait.
 */
async function expectStopped(c: Connection, calls: () => number): Promise<void> {
  const before = calls();
  expect(c.readyState).toBe(2);
  expect(vi.getTimerCount()).toBe(0);
  await expect(drain(c)).resolves.toEqual([]);
  await expect(c.closed).resolves.toBeUndefined();
  await vi.advanceTimersByTimeAsync(10 * 60_000);
  expect(calls()).toBe(before);
  expect(vi.getTimerCount()).toBe(0);
  expect(unhandled).toEqual([]);
}

describe('connect: abort in every state (fake timers, in-memory fetch)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const base: ConnectOptions = { reconnect: { initialDelay: 1000 }, idleTimeout: 30_000 };
  const flush = () => vi.advanceTimersByTimeAsync(0);

  it('signal already aborted: no request at all', async () => {
    const mock = mockFetch(() => new Response(null, { status: 500 }));
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch, signal: AbortSignal.abort() });
    expect(mock.calls).toHaveLength(0);
    await expectStopped(c, () => mock.calls.length);
    expect(mock.calls).toHaveLength(0);
  });

  it('while the body function is pending: fetch is never called', async () => {
    const mock = mockFetch(() => new Response(null, { status: 500 }));
    let release!: (body: string) => void;
    const c = connect('http://test.invalid/', {
      ...base,
      method: 'POST',
      fetch: mock.fetch,
      body: () => new Promise<string>((resolve) => (release = resolve)),
    });
    await flush();
    c.close();
    release('late');
    await flush();
    await expectStopped(c, () => mock.calls.length);
    expect(mock.calls).toHaveLength(0);
  });

  it('while fetch waits for the response headers', async () => {
    const controller = new AbortController();
    let aborted = false;
    let calls = 0;
    const fetch = (_url: string, init: RequestInit) => {
      calls++;
      return new Promise<Response>((_resolve, reject) => {
        init.signal!.addEventListener('abort', () => {
          aborted = true;
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    };
    const c = connect('http://test.invalid/', { ...base, fetch, signal: controller.signal });
    await flush();
    controller.abort();
    expect(aborted).toBe(true);
    await expectStopped(c, () => calls);
    expect(calls).toBe(1);
  });

  it('while onOpen is pending: no event is delivered after it', async () => {
    const mock = mockFetch(() => (signal) => stream(signal, ['data: never\n\n'], true));
    let resume!: () => void;
    const c = connect('http://test.invalid/', {
      ...base,
      fetch: mock.fetch,
      onOpen: () => new Promise<void>((resolve) => (resume = resolve)),
    });
    await flush();
    c.close();
    resume();
    await expectStopped(c, () => mock.calls.length);
  });

  it('while open, with the iterator waiting for the next event', async () => {
    const controller = new AbortController();
    const mock = mockFetch(() => (signal) => stream(signal, ['data: one\n\n'], true));
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch, signal: controller.signal });
    const seen: string[] = [];
    const done = (async () => {
      for await (const event of c) seen.push(event.data);
    })();
    await flush();
    expect(seen).toEqual(['one']);
    controller.abort();
    await done;
    await expectStopped(c, () => mock.calls.length);
  });

  it('from onEvent, mid-chunk: the rest of the chunk is not delivered', async () => {
    const mock = mockFetch(() => (signal) => stream(signal, ['data: 1\n\ndata: 2\n\ndata: 3\n\n'], true));
    const seen: string[] = [];
    const c: Connection = connect('http://test.invalid/', {
      ...base,
      fetch: mock.fetch,
      onEvent: (event) => {
        seen.push(event.data);
        if (event.data === '2') c.close();
      },
    });
    await flush();
    expect(seen).toEqual(['1', '2']);
    await expectStopped(c, () => mock.calls.length);
  });

  it('during the backoff wait: the timer goes, no further request', async () => {
    const mock = mockFetch(() => new Response(null, { status: 503 }));
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch });
    await flush();
    expect(mock.calls).toHaveLength(1);
    expect(c.readyState).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    c.close();
    await expectStopped(c, () => mock.calls.length);
    expect(mock.calls).toHaveLength(1);
  });

  it('during the backoff wait, with an iterator waiting: it ends', async () => {
    const controller = new AbortController();
    const mock = mockFetch((n) =>
      n === 1
        ? (signal: AbortSignal) => stream(signal, ['data: a\n\n'])
        : new Response(null, { status: 503 }),
    );
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch, signal: controller.signal });
    const seen = drain(c);
    await vi.advanceTimersByTimeAsync(5000);
    expect(mock.calls.length).toBeGreaterThan(1);
    controller.abort();
    expect(await seen).toEqual(['a']);
    await expectStopped(c, () => mock.calls.length);
  });

  it('from onError and from onReconnect: no reconnection is scheduled', async () => {
    const mock = mockFetch(() => new Response(null, { status: 503 }));
    const announced: number[] = [];
    const a: Connection = connect('http://test.invalid/', {
      ...base,
      fetch: mock.fetch,
      onError: () => {
        a.close();
        return true;
      },
      onReconnect: (ms) => void announced.push(ms),
    });
    await flush();
    await expectStopped(a, () => mock.calls.length);
    // Closed from onError: no reconnection is announced either.
    expect(announced).toEqual([]);

    const retries: number[] = [];
    const b: Connection = connect('http://test.invalid/', {
      ...base,
      fetch: mock.fetch,
      onReconnect: (ms) => {
        retries.push(ms);
        b.close();
      },
    });
    await flush();
    expect(retries).toHaveLength(1);
    await expectStopped(b, () => mock.calls.length);
    expect(mock.calls).toHaveLength(2);
  });

  it('while reading is paused for a lagging iterator', async () => {
    let pushed = 0;
    const mock = mockFetch(() => (signal) => {
      const feed = manualStream(signal);
      for (let i = 0; i < 10; i++) {
        feed.push('data: x\n\n'.repeat(100));
        pushed++;
      }
      return feed.response;
    });
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch });
    const iterator = c[Symbol.asyncIterator]();
    await iterator.next();
    await flush();
    c.close();
    expect(pushed).toBe(10);
    // Events queued and not taken are dropped: the iterator ends at once.
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    await expectStopped(c, () => mock.calls.length);
  });

  it('while paused because the page is hidden', async () => {
    const doc = Object.assign(new EventTarget(), { hidden: false, baseURI: 'http://test.invalid/' });
    vi.stubGlobal('document', doc);
    try {
      const mock = mockFetch(() => (signal) => stream(signal, ['id: 1\ndata: a\n\n'], true));
      const c = connect('/feed', { ...base, fetch: mock.fetch, pauseWhenHidden: true });
      await flush();
      doc.hidden = true;
      doc.dispatchEvent(new Event('visibilitychange'));
      await flush();
      expect(mock.calls).toHaveLength(1);
      c.close();
      doc.hidden = false;
      doc.dispatchEvent(new Event('visibilitychange'));
      await expectStopped(c, () => mock.calls.length);
      expect(mock.calls).toHaveLength(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('a signal that outlives the connection keeps none of its listeners: after a 204, a fatal error, close()', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const mocks: MockFetch[] = [];
    const open = (reply: () => Reply) => {
      mocks.push(mockFetch(reply));
      return connect('http://test.invalid/', { ...base, fetch: mocks.at(-1)!.fetch, signal });
    };
    const ended = open(() => new Response(null, { status: 204 }));
    const failed = open(() => new Response(null, { status: 404 }));
    const closed = open(() => (s) => stream(s, ['data: a\n\n'], true));
    expect(getEventListeners(signal, 'abort')).toHaveLength(3);
    await flush();
    await expect(ended.closed).resolves.toBeUndefined();
    await expect(failed.closed).rejects.toMatchObject({ name: 'HttpError', status: 404 });
    expect(closed.readyState).toBe(1);
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    closed.close();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    controller.abort();
    await expectStopped(closed, () => mocks.reduce((n, m) => n + m.calls.length, 0));
  });

  it('close() twice, and after the end, is harmless', async () => {
    const mock = mockFetch(() => new Response(null, { status: 204 }));
    const c = connect('http://test.invalid/', { ...base, fetch: mock.fetch });
    await flush();
    expect(c.readyState).toBe(2);
    c.close();
    c.close();
    await expectStopped(c, () => mock.calls.length);
  });
});

describe('connect: pauseWhenHidden', () => {
  it('drops the stream while hidden and resumes with Last-Event-ID when visible', async () => {
    const doc = Object.assign(new EventTarget(), { hidden: true, baseURI: 'http://test.invalid/app/' });
    vi.stubGlobal('document', doc);
    try {
      const mock = mockFetch((n) => (signal) => stream(signal, [`id: ${n}\ndata: ${n}\n\n`], true));
      const seen: string[] = [];
      const c = connect('feed', {
        fetch: mock.fetch,
        pauseWhenHidden: true,
        onEvent: (e) => void seen.push(e.data),
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      // Hidden from the start: nothing until the page shows.
      expect(mock.calls).toHaveLength(0);
      doc.hidden = false;
      doc.dispatchEvent(new Event('visibilitychange'));
      await vi.waitFor(() => expect(seen).toEqual(['1']));
      expect(mock.calls[0]!.url).toBe('http://test.invalid/app/feed');
      doc.hidden = true;
      doc.dispatchEvent(new Event('visibilitychange'));
      expect(c.readyState).toBe(1); // until the aborted read unwinds
      await vi.waitFor(() => expect(c.readyState).toBe(0));
      doc.hidden = false;
      doc.dispatchEvent(new Event('visibilitychange'));
      await vi.waitFor(() => expect(seen).toEqual(['1', '2']));
      expect(mock.calls[1]!.headers.get('last-event-id')).toBe('1');
      c.close();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('is off by default and ignored without a document', async () => {
    const doc = Object.assign(new EventTarget(), { hidden: true, baseURI: 'http://test.invalid/' });
    vi.stubGlobal('document', doc);
    try {
      const mock = mockFetch(() => (signal) => stream(signal, ['data: a\n\n'], true));
      const c = connect('/x', { fetch: mock.fetch });
      for await (const event of c) {
        expect(event.data).toBe('a');
        break;
      }
    } finally {
      vi.unstubAllGlobals();
    }
    const mock = mockFetch(() => (signal) => stream(signal, ['data: b\n\n'], true));
    const c = connect('http://test.invalid/', { fetch: mock.fetch, pauseWhenHidden: true });
    for await (const event of c) {
      expect(event.data).toBe('b');
      break;
    }
  });
});

describe('connect: abort against a real server', () => {
  it('break in for await closes the socket; no further request; no handle left', async () => {
    const closedSockets: number[] = [];
    const server = await startServer((req, res, _r: RecordedRequest, n) => {
      sse(res);
      res.write('data: hello\n\n');
      req.socket.on('close', () => closedSockets.push(n));
    });
    try {
      const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const c = connect(server.url, { idleTimeout: 60_000 });
      for await (const event of c) {
        expect(event.data).toBe('hello');
        break;
      }
      expect(c.readyState).toBe(2);
      await vi.waitFor(() => expect(closedSockets).toEqual([1]));
      expect(server.requests).toHaveLength(1);
      expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(
        before,
      );
      expect(unhandled).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
