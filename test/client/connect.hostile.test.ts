import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { IdleTimeoutError, StreamEndError } from '../../src/client/errors.js';
import { isParseError, type ParseError } from '../../src/protocol/errors.js';
import type { ServerSentEvent } from '../../src/protocol/types.js';
import { seeded, sse, startServer, type TestServer } from './helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('connect: hostile and broken servers', () => {
  it('survives garbage bytes (invalid UTF-8, NUL, stray CRs) and keeps parsing', async () => {
    const random = seeded(7);
    const garbage = Buffer.alloc(256 * 1024);
    for (let i = 0; i < garbage.length; i++) {
      // Mostly high bytes and controls, some line ends so the parser sees many short lines.
      const r = random();
      garbage[i] = r < 0.02 ? 10 : r < 0.04 ? 13 : r < 0.06 ? 0 : Math.floor(random() * 256);
    }
    server = await startServer((_req, res) => {
      sse(res);
      res.write(garbage);
      res.end('\n\nevent: end\ndata: END\n\n');
    });
    const events: ServerSentEvent[] = [];
    const c = connect(server.url, { reconnect: false });
    for await (const event of c) events.push(event);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: 'END' });
    for (const event of events) {
      expect(typeof event.data).toBe('string');
      expect(event.data.length).toBeLessThan(garbage.length);
    }
    await expect(c.closed).resolves.toBeUndefined();
  });

  it('an endless line is a ParseError; the retry policy reconnects; the server stops writing', async () => {
    let stoppedWriting = false;
    server = await startServer((_req, res, _r, n) => {
      sse(res);
      if (n > 1) {
        res.end('data: fine again\n\n');
        return;
      }
      // Writes one line forever, honouring backpressure, until the client hangs up.
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.write('retry: 0\ndata: ');
      const pump = (r: ServerResponse) => {
        while (!r.destroyed) if (!r.write(chunk)) return void r.once('drain', () => pump(r));
      };
      res.on('close', () => {
        stoppedWriting = true;
      });
      pump(res);
    });
    const errors: unknown[] = [];
    const c = connect(server.url, { maxBufferSize: 1024 * 1024, onError: (e) => void errors.push(e) });
    for await (const event of c) {
      expect(event.data).toBe('fine again');
      break;
    }
    expect(isParseError(errors[0])).toBe(true);
    expect((errors[0] as ParseError).type).toBe('max-buffer-size-exceeded');
    expect(server.requests).toHaveLength(2);
    await expect.poll(() => stoppedWriting).toBe(true);
  });

  it('a stalled server trips the idle timeout, and the client reconnects', async () => {
    server = await startServer((_req, res, _r, n) => {
      sse(res);
      // The first connection says one thing, then nothing: not even a comment.
      res.write(n === 1 ? 'retry: 0\nid: 1\ndata: then silence\n\n' : 'data: awake\n\n');
    });
    const errors: unknown[] = [];
    const c = connect(server.url, { idleTimeout: 200, onError: (e) => void errors.push(e) });
    const seen: string[] = [];
    for await (const event of c) {
      seen.push(event.data);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['then silence', 'awake']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(IdleTimeoutError);
    expect(server.requests[1]!.lastEventId).toBe('1');
  });

  it('a stream that ends at once (empty 200) counts as a failure and backs off, from the second in a row', async () => {
    server = await startServer((_req, res) => {
      sse(res);
      res.end();
    });
    const delays: number[] = [];
    const errors: unknown[] = [];
    const c = connect(server.url, {
      reconnect: { initialDelay: 1, maxDelay: 1, jitter: 0 },
      onError: (e) => void errors.push(e),
      onReconnect: (ms) => {
        delays.push(ms);
        if (delays.length === 3) c.close();
      },
    });
    await c.closed;
    expect(errors.every((e) => e instanceof StreamEndError)).toBe(true);
    // The first end of an open stream waits the reconnection time (1) exactly; ends again
    // before any event are failures in a row and back off (1 + 1).
    expect(delays).toEqual([1, 2, 2]);
  });
});
