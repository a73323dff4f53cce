/** An in-memory `fetch` for tests that drive time with fake timers (no sockets involved). */

export interface Call {
  url: string;
  init: RequestInit;
  headers: Headers;
}

export type Reply = Response | Error | ((signal: AbortSignal) => Response);

export interface MockFetch {
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  calls: Call[];
}

/** `reply(n)` answers the n-th call (1-based). */
export function mockFetch(reply: (n: number, call: Call) => Reply): MockFetch {
  const calls: Call[] = [];
  return {
    calls,
    async fetch(url, init) {
      const call = { url, init, headers: new Headers(init.headers) };
      calls.push(call);
      if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
      const answer = reply(calls.length, call);
      if (answer instanceof Error) throw answer;
      return typeof answer === 'function' ? answer(init.signal!) : answer;
    },
  };
}

/**
 * An event-stream response whose body yields `chunks`, then ends (or, with `open`, stays open
 * until aborted). Like a real fetch, aborting the signal errors the body.
 */
export function stream(
  signal: AbortSignal,
  chunks: string[],
  open = false,
  headers: HeadersInit = {},
): Response {
  const encoder = new TextEncoder();
  let control!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      control = c;
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk));
      if (!open) c.close();
    },
  });
  signal.addEventListener('abort', () => {
    try {
      control.error(new DOMException('aborted', 'AbortError'));
    } catch {
      // Already closed: nothing left to abort.
    }
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream', ...headers } });
}

/** A stream the test feeds by hand (`push`), honouring abort like a real fetch body. */
export function manualStream(signal: AbortSignal): {
  response: Response;
  push(text: string): void;
  end(): void;
} {
  const encoder = new TextEncoder();
  let control!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      control = c;
    },
  });
  let done = false;
  signal.addEventListener('abort', () => {
    if (!done) control.error(new DOMException('aborted', 'AbortError'));
    done = true;
  });
  return {
    response: new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
    push(text) {
      if (!done) control.enqueue(encoder.encode(text));
    },
    end() {
      if (!done) control.close();
      done = true;
    },
  };
}

/** A {@link mockFetch} whose every request is answered by a new {@link manualStream}, kept in `feeds`. */
export function manualFetch(): MockFetch & { feeds: ReturnType<typeof manualStream>[] } {
  const feeds: ReturnType<typeof manualStream>[] = [];
  const mock = mockFetch(() => (signal) => {
    const feed = manualStream(signal);
    feeds.push(feed);
    return feed.response;
  });
  return { ...mock, feeds };
}
