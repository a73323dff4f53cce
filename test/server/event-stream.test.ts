import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeEvent, encodeEventBytes, isEncodeError } from '../../src/index.js';
import {
  createEventStream,
  isServerError,
  isStreamClosedError,
  SSE_HEADERS,
  type StreamClosedError,
  sseHeaders,
  sseResponse,
} from '../../src/server/index.js';
import { BodyReader, turn } from '../helpers/body.js';

const streams: { close(): void }[] = [];
function open(init?: Parameters<typeof createEventStream>[0]) {
  const stream = createEventStream({ heartbeat: false, ...init });
  streams.push(stream);
  return stream;
}
afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
  vi.useRealTimers();
});

function expectSseHeaders(headers: Headers): void {
  for (const [name, value] of Object.entries(SSE_HEADERS)) expect(headers.get(name)).toBe(value);
}

describe('headers', () => {
  it('SSE_HEADERS is frozen and carries the anti-buffering defaults', () => {
    expect(Object.isFrozen(SSE_HEADERS)).toBe(true);
    expect(SSE_HEADERS['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(SSE_HEADERS['cache-control']).toBe('no-cache, no-transform');
    expect(SSE_HEADERS['x-accel-buffering']).toBe('no');
    expect(SSE_HEADERS['x-content-type-options']).toBe('nosniff');
    expect(() => {
      (SSE_HEADERS as Record<string, string>)['content-type'] = 'text/plain';
    }).toThrow(TypeError);
  });

  it('createEventStream answers 200 with the SSE headers', () => {
    const { response } = open();
    expect(response.status).toBe(200);
    expectSseHeaders(response.headers);
  });

  it('user headers and status merge over the defaults', () => {
    const { response } = open({
      status: 201,
      headers: { 'access-control-allow-origin': '*', 'cache-control': 'no-store' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toBe(SSE_HEADERS['content-type']);
  });

  it('sseHeaders keeps several Set-Cookie values apart', () => {
    const headers = sseHeaders([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expectSseHeaders(headers);
  });

  it('sseResponse wraps a body with the headers', () => {
    const response = sseResponse(null, { status: 204, statusText: 'No Content' });
    expect(response.status).toBe(204);
    expect(response.statusText).toBe('No Content');
    expectSseHeaders(response.headers);
  });
});

describe('createEventStream', () => {
  it('bytes sent with sendEncoded then text in the same turn arrive whole and in order', async () => {
    const stream = createEventStream({ heartbeat: false });
    const body = new BodyReader(stream.response.body);
    void stream.sendEncoded(new TextEncoder().encode('data: bytes\n\n'));
    void stream.send('text after');
    stream.close();
    await body.rest();
    expect(body.text).toBe(':\n\ndata: bytes\n\ndata: text after\n\n');
  });

  it('queues its first bytes at once, before any event exists', async () => {
    const body = new BodyReader(open().response.body);
    expect(await body.next()).toBe(':\n\n');
  });

  it('sends the retry hint first when asked', async () => {
    const body = new BodyReader(open({ retry: 2500 }).response.body);
    expect(await body.next()).toBe('retry: 2500\n\n');
  });

  it('refuses an invalid retry hint or bounds up front', () => {
    expect(() => createEventStream({ retry: -1 })).toThrow();
    expect(() => createEventStream({ heartbeat: 0 })).toThrow(RangeError);
    expect(() => createEventStream({ highWaterMark: 100, maxQueuedBytes: 10 })).toThrow(RangeError);
    expect(() => createEventStream({ overflow: 'grow' as 'close' })).toThrow(RangeError);
  });

  it('delivers events in order, each data line intact', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    await stream.send({ event: 'message', id: '1', data: '{"a":1}' });
    await stream.send('two\nlines');
    await stream.send({ data: 'crlf\r\nand\rcr' });
    await stream.comment('still here');
    stream.close();
    await body.rest();
    expect(body.events).toEqual([
      { event: 'message', id: '1', data: '{"a":1}' },
      { event: 'message', id: '1', data: 'two\nlines' },
      { event: 'message', id: '1', data: 'crlf\nand\ncr' },
    ]);
    expect(body.comments).toContain('still here');
  });

  it('batches a burst of sends into few chunks', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    await body.next();
    for (let i = 0; i < 1000; i++) await stream.send({ data: String(i) });
    stream.close();
    let chunks = 0;
    while (!body.done) if ((await body.next()) !== '') chunks++;
    expect(body.events).toHaveLength(1000);
    expect(body.events[999]!.data).toBe('999');
    expect(chunks).toBeLessThan(20);
  });

  it('sendEncoded mixes pre-encoded bytes and text in order', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    const shared = encodeEventBytes({ event: 'broadcast', data: 'once' });
    void stream.send('a');
    void stream.sendEncoded(shared);
    void stream.sendEncoded(encodeEvent({ data: 'c' }));
    void stream.sendEncoded(shared);
    stream.close();
    await body.rest();
    expect(body.events.map((e) => e.data)).toEqual(['a', 'once', 'c', 'once']);
    expect(() => stream.sendEncoded(42 as unknown as string)).not.toThrow(); // closed: a no-op
    const live = open();
    expect(() => live.sendEncoded(42 as unknown as string)).toThrow(TypeError);
  });

  it('close() delivers what is queued, ends the body and aborts the signal', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    void stream.send('last');
    stream.close();
    stream.close();
    expect(stream.closed).toBe(true);
    expect(stream.signal.aborted).toBe(true);
    expect(isStreamClosedError(stream.signal.reason)).toBe(true);
    expect((stream.signal.reason as StreamClosedError).type).toBe('closed');
    await body.rest();
    expect(body.events.map((e) => e.data)).toEqual(['last']);
  });

  it("the signal's reason carries no stack frames (they would be the stream's own), and the stack limit is left as it was", () => {
    const limit = Error.stackTraceLimit;
    const stream = open();
    stream.close();
    const reason = stream.signal.reason as StreamClosedError;
    expect(reason.stack).toBe('StreamClosedError: the server closed the event stream');
    expect(reason.message).toBe('the server closed the event stream');
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });

  it('keeps its getters on the prototype (an object with getters of its own is a slow dictionary in V8), and its methods work taken off it', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    for (const name of ['closed', 'bufferedAmount']) {
      expect(Object.getOwnPropertyDescriptor(stream, name)).toBeUndefined();
      expect(typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(stream), name)?.get).toBe(
        'function',
      );
    }
    const { send, sendEncoded, comment, close } = stream;
    void send('a');
    void sendEncoded('data: b\n\n');
    void comment('c');
    expect(stream.bufferedAmount).toBeGreaterThan(0);
    close();
    expect(stream.closed).toBe(true);
    expect(stream.bufferedAmount).toBe(0);
    await body.rest();
    expect(body.events.map((e) => e.data)).toEqual(['a', 'b']);
  });
});

describe('field injection', () => {
  it.each([
    [{ event: 'a\nevent: forged' }, 'invalid-event'],
    [{ event: 'a\rb' }, 'invalid-event'],
    [{ id: '1\ndata: forged' }, 'invalid-id'],
    [{ id: 'a\0b' }, 'invalid-id'],
    [{ retry: 1.5 }, 'invalid-retry'],
  ])('refuses %j with an EncodeError and sends nothing', async (event, type) => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    let error: unknown;
    try {
      void stream.send(event);
    } catch (e) {
      error = e;
    }
    expect(isEncodeError(error)).toBe(true);
    expect((error as { type: string }).type).toBe(type);
    stream.close();
    await body.rest();
    expect(body.text).toBe(':\n\n');
  });

  it('refuses something that is not an event at all', () => {
    const stream = open();
    for (const bad of [42, null, undefined, true]) {
      expect(() => stream.send(bad as unknown as string)).toThrow(TypeError);
    }
    expect(() => stream.send({ data: 42 as unknown as string })).toSatisfy((fn: () => unknown) => {
      try {
        fn();
        return false;
      } catch (error) {
        return isEncodeError(error);
      }
    });
  });

  it('keeps a multi-line comment or data from starting a field', async () => {
    const stream = open();
    const body = new BodyReader(stream.response.body);
    void stream.comment('x\nevent: forged\ndata: forged');
    void stream.send({ data: 'y\n\nid: forged\nevent: forged' });
    stream.close();
    await body.rest();
    expect(body.events).toEqual([{ event: 'message', id: '', data: 'y\n\nid: forged\nevent: forged' }]);
  });
});

describe('heartbeat', () => {
  it('writes a comment every 10 s by default', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    const stream = createEventStream();
    streams.push(stream);
    const body = new BodyReader(stream.response.body);
    await body.next();
    vi.advanceTimersByTime(9_999);
    void stream.send('event');
    await body.until(() => body.events.length === 1);
    expect(body.text).toBe(':\n\ndata: event\n\n');
    vi.advanceTimersByTime(1);
    await body.until(() => body.text.endsWith('data: event\n\n:\n\n'));
    vi.advanceTimersByTime(20_000);
    await body.until(() => body.text.endsWith(':\n\n:\n\n:\n\n'));
    expect(body.text).toBe(':\n\ndata: event\n\n:\n\n:\n\n:\n\n');
  });

  it('writes one every 5 s under Bun, whose server cuts a connection after 10 s without a write', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    vi.stubGlobal('Bun', {});
    try {
      const stream = createEventStream();
      streams.push(stream);
      const body = new BodyReader(stream.response.body);
      await body.next();
      vi.advanceTimersByTime(4_999);
      await turn();
      expect(body.text).toBe(':\n\n');
      vi.advanceTimersByTime(1);
      await body.until(() => body.text === ':\n\n:\n\n');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('follows a custom interval, and stops with the stream', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    const stream = createEventStream({ heartbeat: 1_000 });
    const body = new BodyReader(stream.response.body);
    await body.next();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1_000);
    await body.next();
    expect(body.text).toBe(':\n\n:\n\n');
    stream.close();
    expect(vi.getTimerCount()).toBe(0);
    await body.rest();
    expect(body.text).toBe(':\n\n:\n\n');
  });

  it('does not keep the process alive (its timer is unref-ed)', () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    try {
      open({ heartbeat: 1_000 });
      expect(setIntervalSpy).toHaveBeenCalledTimes(1);
      const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
    } finally {
      setIntervalSpy.mockRestore();
    }
  });

  it('can be turned off', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    open({ heartbeat: false });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops when the client goes away', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    const stream = createEventStream();
    expect(vi.getTimerCount()).toBe(1);
    await stream.response.body!.cancel();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('backpressure', () => {
  const event = { data: 'x'.repeat(40) }; // 48 bytes on the wire

  it('send resolves at once below the high-water mark, and waits above it until the client reads', async () => {
    const stream = open({ highWaterMark: 200 });
    const body = new BodyReader(stream.response.body);
    let sent = 0;
    while ((await Promise.race([stream.send(event), turn().then(() => 'pending')])) === true) sent++;
    // Above the mark: the last send is still pending. Nothing was read, so only ~200 bytes queued.
    expect(sent).toBeGreaterThan(0);
    expect(stream.bufferedAmount).toBeGreaterThanOrEqual(200);
    expect(stream.bufferedAmount).toBeLessThan(200 + 48 + 3);
    const waiting = stream.send(event);
    let resolved: boolean | undefined;
    void waiting.then((ok) => {
      resolved = ok;
    });
    await turn();
    expect(resolved).toBeUndefined();
    await body.until(() => resolved !== undefined);
    expect(resolved).toBe(true);
  });

  it('a producer that never awaits is stopped by the bound: the stream closes as overflow', async () => {
    const stream = open({ highWaterMark: 256, maxQueuedBytes: 4096 });
    let maxBuffered = 0;
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const result = stream.send(event);
      maxBuffered = Math.max(maxBuffered, stream.bufferedAmount);
      if (stream.closed) {
        refused++;
        expect(await result).toBe(false);
      }
    }
    expect(maxBuffered).toBeLessThanOrEqual(4096);
    expect(stream.closed).toBe(true);
    expect(refused).toBeGreaterThan(0);
    expect((stream.signal.reason as StreamClosedError).type).toBe('overflow');
    expect(isServerError(stream.signal.reason)).toBe(true);
    // The queue was dropped: the body is errored, not drained slowly.
    const reader = stream.response.body!.getReader();
    await expect(reader.read()).rejects.toSatisfy(isStreamClosedError);
  });

  it("the 'drop' policy refuses events past the bound and keeps the stream", async () => {
    const stream = open({ highWaterMark: 256, maxQueuedBytes: 1024, overflow: 'drop' });
    let accepted = 0;
    const refusals: Promise<boolean>[] = [];
    for (let i = 0; i < 100; i++) {
      const before = stream.bufferedAmount;
      const result = stream.send({ data: `${i}`.padStart(40, '0') });
      if (stream.bufferedAmount > before) accepted++;
      else refusals.push(result);
      expect(stream.bufferedAmount).toBeLessThanOrEqual(1024);
    }
    expect(stream.closed).toBe(false);
    expect(refusals.length).toBe(100 - accepted);
    expect(refusals.length).toBeGreaterThan(0);
    expect(await Promise.all(refusals)).toEqual(refusals.map(() => false));
    const body = new BodyReader(stream.response.body);
    await body.until(() => body.events.length === accepted);
    stream.close();
    await body.rest();
    expect(body.events).toHaveLength(accepted);
    expect(body.events[0]!.data).toBe('0'.repeat(40));
  });

  it('a send waits while the queue is at the mark counting the batch not yet handed to the body, not only what the body holds', async () => {
    const stream = open({ highWaterMark: 100 });
    const reader = stream.response.body!.getReader();
    const sixty = { data: 'x'.repeat(52) }; // 60 bytes on the wire
    expect(await stream.send(sixty)).toBe(true); // 3 + 60 queued
    await turn(); // handed to the body as one chunk
    const waiting = stream.send(sixty); // 123 queued: over the mark
    let resolved: boolean | undefined;
    void waiting.then((ok) => {
      resolved = ok;
    });
    await turn(); // a second chunk
    void stream.send(sixty); // still in the batch
    // The client reads the opening comment and the first event: the body holds 60 bytes, the
    // batch 60 more, 120 in all.
    void reader.read();
    void reader.read();
    for (let i = 0; i < 5; i++) await turn();
    expect(stream.bufferedAmount).toBe(120);
    expect(resolved).toBeUndefined();
    await reader.read(); // 60 left: below the mark
    await turn();
    expect(resolved).toBe(true);
  });

  it('pre-encoded bytes (sendEncoded of a Uint8Array) count toward the bound like events do', async () => {
    const bytes = encodeEventBytes({ data: 'x'.repeat(40) }); // 48 bytes
    const dropping = open({ highWaterMark: 256, maxQueuedBytes: 1024, overflow: 'drop' });
    const refusals: Promise<boolean>[] = [];
    for (let i = 0; i < 100; i++) {
      const before = dropping.bufferedAmount;
      const result = dropping.sendEncoded(bytes);
      if (dropping.bufferedAmount === before) refusals.push(result);
      expect(dropping.bufferedAmount).toBeLessThanOrEqual(1024);
    }
    expect(dropping.closed).toBe(false);
    expect(refusals.length).toBeGreaterThan(0);
    expect(await Promise.all(refusals)).toEqual(refusals.map(() => false));

    const closing = open({ highWaterMark: 256, maxQueuedBytes: 1024 });
    for (let i = 0; i < 100 && !closing.closed; i++) void closing.sendEncoded(bytes);
    expect(closing.closed).toBe(true);
    expect((closing.signal.reason as StreamClosedError).type).toBe('overflow');

    // One block larger than the bound can never be queued.
    const single = open({ highWaterMark: 256, maxQueuedBytes: 1024, overflow: 'drop' });
    expect(await single.sendEncoded(new Uint8Array(2048))).toBe(false);
    expect(single.bufferedAmount).toBeLessThan(1024);
  });

  it('waiting senders resolve false when the stream closes', async () => {
    const stream = open({ highWaterMark: 64 });
    const pending = [stream.send(event), stream.send(event), stream.send(event)];
    stream.close();
    expect(await Promise.all(pending)).toContain(false);
    expect(await stream.send(event)).toBe(false);
  });
});

describe('disconnect', () => {
  it('cancelling the body aborts the signal as client-gone and settles waiting sends', async () => {
    const stream = open({ highWaterMark: 64 });
    const waiting = [stream.send({ data: 'x'.repeat(100) }), stream.send('y')];
    const reason = new Error('socket closed');
    await stream.response.body!.cancel(reason);
    expect(stream.signal.aborted).toBe(true);
    const closed = stream.signal.reason as StreamClosedError;
    expect(closed.type).toBe('client-gone');
    expect(closed.cause).toBe(reason);
    expect(await Promise.all(waiting)).toEqual([false, false]);
  });

  it('a write after the client left resolves false and never throws', async () => {
    const stream = open();
    await stream.response.body!.cancel();
    expect(stream.closed).toBe(true);
    expect(await stream.send('late')).toBe(false);
    expect(await stream.send({ event: 'bad\nname' })).toBe(false);
    expect(await stream.comment('late')).toBe(false);
    expect(await stream.sendEncoded(new Uint8Array(3))).toBe(false);
    expect(stream.bufferedAmount).toBe(0);
    expect(() => stream.close()).not.toThrow();
  });

  it('an aborted init.signal ends the stream as client-gone', async () => {
    const controller = new AbortController();
    const stream = open({ signal: controller.signal });
    const body = new BodyReader(stream.response.body);
    await body.next();
    void stream.send('never delivered');
    controller.abort(new Error('request aborted'));
    expect((stream.signal.reason as StreamClosedError).type).toBe('client-gone');
    // What was queued is dropped, and the body ends without an error a runtime would log.
    await body.rest();
    expect(body.text).toBe(':\n\n');
  });

  it('a stream that ended stops listening to init.signal (a long-lived signal does not keep every stream)', async () => {
    const controller = new AbortController();
    const listeners = () => getEventListeners(controller.signal, 'abort').length;
    const closed = open({ signal: controller.signal });
    const cancelled = open({ signal: controller.signal });
    expect(listeners()).toBe(2);
    closed.close();
    expect(listeners()).toBe(1);
    await cancelled.response.body!.cancel();
    expect(listeners()).toBe(0);
  });

  it('an init.signal aborted up front gives a closed stream', () => {
    const stream = open({ signal: AbortSignal.abort() });
    expect(stream.closed).toBe(true);
    expect((stream.signal.reason as StreamClosedError).type).toBe('client-gone');
  });
});
