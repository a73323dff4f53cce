import { setMaxListeners } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { connect } from '../../src/client/connect.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CYCLES = 10_000;
const PARALLEL = 50;
const WARM_UP = 500;

function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

describe('connect: load', () => {
  it(`${CYCLES} connect/close cycles leave the heap flat and no handle or timer behind`, async () => {
    // A bare server: the helper's request log would itself grow with every cycle.
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hi\n\ndata: hello\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const controller = new AbortController();
    // A third of each parallel batch listens on this one signal at once: that is use, not a leak
    // (the heap and handle checks below catch a leak), so Node's warning past 10 is raised.
    setMaxListeners(PARALLEL, controller.signal);
    try {
      // Alternate the states a close can find: waiting for headers, open and iterating, and
      // through a shared long-lived signal (whose listener must not pile up).
      const cycle = async (i: number) => {
        const init = { idleTimeout: 60_000, reconnect: { initialDelay: 60_000 } };
        if (i % 3 === 0) {
          const c = connect(url, init);
          c.close();
          await c.closed;
        } else if (i % 3 === 1) {
          const c = connect(url, { ...init, signal: controller.signal });
          for await (const _ of c) break;
        } else {
          await new Promise<void>((resolve) => {
            const c = connect(url, {
              ...init,
              onEvent: () => {
                c.close();
                resolve();
              },
            });
          });
        }
      };
      const run = async (from: number, to: number) => {
        for (let i = from; i < to; i += PARALLEL) {
          await Promise.all(Array.from({ length: Math.min(PARALLEL, to - i) }, (_, k) => cycle(i + k)));
        }
      };

      await run(0, WARM_UP); // warm-up: JIT, undici's pool, the server's first sockets
      await vi.waitFor(() => expect(handles().TCPSocketWrap ?? 0).toBeLessThanOrEqual(2), {
        timeout: 10_000,
      });
      const baseHandles = handles();
      const baseHeap = await settledHeap();

      await run(WARM_UP, CYCLES);

      // Sockets close asynchronously on both ends; wait (bounded) for them to go.
      await vi.waitFor(
        () => expect(handles().TCPSocketWrap ?? 0).toBeLessThanOrEqual(baseHandles.TCPSocketWrap ?? 0),
        { timeout: 10_000 },
      );
      const after = handles();
      expect(after.Timeout ?? 0).toBeLessThanOrEqual(baseHandles.Timeout ?? 0);
      const growth = (await settledHeap()) - baseHeap;
      // 9500 leaked connections would be many megabytes (each holds a parser, headers, a
      // queue and closures); noise after a full GC stays well under this.
      expect(growth).toBeLessThan(2 * 1024 * 1024);
      expect(requests).toBeGreaterThan(CYCLES / 2);
    } finally {
      controller.abort();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);
});
