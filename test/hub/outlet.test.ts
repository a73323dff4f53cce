/**
 * The outlet (a hub subscriber's byte stream) in each state a cut can find it: open, ended with
 * bytes still pending, ended with the last bytes read, read to its end, cancelled, and written
 * directly by a transport.
 */
import { describe, expect, it } from 'vitest';
import { HubError, isHubError } from '../../src/hub/index.js';
import { Outlet } from '../../src/hub/outlet.js';
import { type DirectTarget, getDirectWriteHook } from '../../src/server/direct-write.js';
import { isStreamClosedError, StreamClosedError } from '../../src/server/index.js';
import { nextMacrotask } from './helpers.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);

class CountingOutlet extends Outlet {
  cancels = 0;
  protected override onCancel(): void {
    this.cancels++;
  }
}

function readerOf(outlet: Outlet): ReadableStreamDefaultReader<Uint8Array> {
  return (outlet.stream as ReadableStream<Uint8Array>).getReader();
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** A transport that records what it is told. */
function recordingTarget() {
  const calls: string[] = [];
  const target: DirectTarget = {
    write: (chunk) => calls.push(`write ${text(chunk)}`),
    queuedBytes: 0,
    end: () => calls.push('end'),
    abort: () => calls.push('abort'),
  };
  return { target, calls };
}

describe('Outlet.abort', () => {
  it('errors an open stream: a waiting read rejects with an overflow StreamClosedError, the reason as cause', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    const read = reader.read();
    const reason = new HubError('slow consumer cut off');
    outlet.abort(reason);
    const error = await failure(read);
    expect(isStreamClosedError(error) && error.type).toBe('overflow');
    expect((error as Error).cause).toBe(reason);
  });

  it('after end(), cuts a reader that has not taken the last bytes', async () => {
    const outlet = new Outlet();
    outlet.write(bytes('backlog'));
    outlet.end(bytes('retry: 1000\n\n'), true);
    outlet.abort(new HubError('slow consumer cut off'));
    const reader = readerOf(outlet);
    const error = await failure(reader.read());
    expect(isStreamClosedError(error)).toBe(true);
    expect(isHubError((error as Error).cause)).toBe(true);
  });

  it('after end(), cuts a reader that took the last bytes but never asked for more', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    const waiting = reader.read();
    outlet.end(bytes('retry: 1000\n\n'), true);
    expect(text((await waiting).value)).toBe('retry: 1000\n\n');
    // The reader stops here (an adapter waiting for its socket to drain): the cut still reaches it.
    outlet.abort(new HubError('slow consumer cut off'));
    expect(isStreamClosedError(await failure(reader.closed))).toBe(true);
    expect(isStreamClosedError(await failure(reader.read()))).toBe(true);
  });

  it('leaves a stream read to its end as it was: done, closed cleanly', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    outlet.write(bytes('a'));
    outlet.end(bytes('b'));
    expect(text((await reader.read()).value)).toBe('ab');
    expect((await reader.read()).done).toBe(true);
    outlet.abort(new HubError('slow consumer cut off'));
    await expect(reader.closed).resolves.toBeUndefined();
  });

  it('after a cancel, does nothing; the cancel is reported once', async () => {
    const outlet = new CountingOutlet();
    const reader = readerOf(outlet);
    await reader.cancel();
    outlet.abort(new HubError('slow consumer cut off'));
    outlet.abort(new HubError('again'));
    await expect(reader.closed).resolves.toBeUndefined();
    expect(outlet.cancels).toBe(1);
  });

  it('with a transport attached, aborts the transport, after end() too', () => {
    const outlet = new Outlet();
    const { target, calls } = recordingTarget();
    expect(getDirectWriteHook(outlet.stream)?.(target)).toBe(outlet);
    outlet.end(bytes('bye'), true);
    outlet.abort(new HubError('slow consumer cut off'));
    expect(calls).toEqual(['write bye', 'end', 'abort']);
  });
});

describe('Outlet attached by a transport', () => {
  it('after end(), before the transport attaches: the transport gets every byte, then the end', () => {
    const outlet = new Outlet();
    outlet.write(bytes('first '));
    outlet.end(bytes('retry'));
    const { target, calls } = recordingTarget();
    expect(getDirectWriteHook(outlet.stream)?.(target)).toBe(outlet);
    expect(calls).toEqual(['write first retry', 'end']);
  });

  it('cut before the transport attaches: the body declines and is read as a stream that fails', async () => {
    const outlet = new Outlet();
    const stream = outlet.stream as ReadableStream<Uint8Array>;
    outlet.end(bytes('retry'), true);
    outlet.abort(new HubError('slow consumer cut off'));
    const { target, calls } = recordingTarget();
    expect(getDirectWriteHook(stream)?.(target)).toBeUndefined();
    expect(calls).toEqual([]);
    expect(isStreamClosedError(await failure(stream.getReader().read()))).toBe(true);
  });
});

describe('Outlet after end()', () => {
  it('drops writes after end(): the reader gets what came before, then done', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    outlet.write(bytes('a'));
    outlet.end(bytes('b'));
    outlet.write(bytes('late'));
    expect(text((await reader.read()).value)).toBe('ab');
    expect((await reader.read()).done).toBe(true);
  });

  it('ignores a second end(): its final bytes are not sent', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    outlet.end(bytes('first'));
    outlet.end(bytes('second'));
    expect(text((await reader.read()).value)).toBe('first');
    expect((await reader.read()).done).toBe(true);
  });

  it('closes a stream whose reader is waiting when end() has nothing to send: a cut right after finds nothing to cut', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    const waiting = reader.read();
    await nextMacrotask(); // the stream asks for bytes: the reader waits
    outlet.end();
    outlet.abort(new HubError('slow consumer cut off'));
    expect((await waiting).done).toBe(true);
    await expect(reader.closed).resolves.toBeUndefined();
  });

  it('with a transport attached, drops writes after end()', () => {
    const outlet = new Outlet();
    const { target, calls } = recordingTarget();
    expect(getDirectWriteHook(outlet.stream)?.(target)).toBe(outlet);
    outlet.write(bytes('a'));
    outlet.end();
    outlet.write(bytes('late'));
    expect(calls).toEqual(['write a', 'end']);
  });

  it('abort() with a StreamClosedError errors the stream with that error itself', async () => {
    const outlet = new Outlet();
    const reader = readerOf(outlet);
    const read = reader.read();
    const reason = new StreamClosedError('overflow', 'cut by the test');
    outlet.abort(reason);
    expect(await failure(read)).toBe(reason);
  });
});
