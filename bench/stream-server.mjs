// One contender of `npm run bench:stream`, in its own process so that the CPU it reports is the
// server's alone (the client runs in the parent). Usage: node bench/stream-server.mjs <name>
// GET /?n=<events> streams n events: `id: i`, `event: message`, a small JSON `data`.
import { once } from 'node:events';
import { createServer } from 'node:http';

const name = process.argv[2];
const payload = (i) => `{"i":${i},"text":"hello"}`;

/** Each contender: (req, res, n, done) -> starts streaming n events; done() when it is over. */
const contenders = {
  // The floor: one res.write per event, honouring its return value.
  async raw() {
    return (_req, res, n) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
      });
      res.flushHeaders();
      void (async () => {
        for (let i = 0; i < n; i++) {
          if (!res.write(`id: ${i}\nevent: message\ndata: ${payload(i)}\n\n`)) await once(res, 'drain');
        }
        res.end();
      })();
    };
  },

  // ssekit through ssekit/node, from the built dist/.
  async ssekit() {
    const { createEventStream } = await import('../dist/server.js');
    const { createRequestListener } = await import('../dist/node.js');
    return createRequestListener((request) => {
      const n = Number(new URL(request.url).searchParams.get('n'));
      const stream = createEventStream({ heartbeat: false, signal: request.signal });
      void (async () => {
        for (let i = 0; i < n; i++) {
          await stream.send({ id: String(i), event: 'message', data: payload(i) });
        }
        stream.close();
      })();
      return stream.response;
    });
  },

  // better-sse: push() writes at once and ignores res.write()'s return value, so we wait for
  // 'drain' ourselves, as a careful user must, to keep memory bounded.
  async 'better-sse'() {
    const { createSession } = await import('better-sse');
    return (req, res, n) => {
      void (async () => {
        const session = await createSession(req, res, { serializer: (data) => data, retry: null });
        for (let i = 0; i < n; i++) {
          session.push(payload(i), 'message', String(i));
          if (res.writableNeedDrain) await once(res, 'drain');
        }
        res.end();
      })();
    };
  },

  // hono's streamSSE on @hono/node-server.
  async hono() {
    const { Hono } = await import('hono');
    const { streamSSE } = await import('hono/streaming');
    const { getRequestListener } = await import('@hono/node-server');
    const app = new Hono();
    app.get('/', (c) => {
      const n = Number(c.req.query('n'));
      return streamSSE(c, async (stream) => {
        for (let i = 0; i < n; i++) {
          await stream.writeSSE({ id: String(i), event: 'message', data: payload(i) });
        }
      });
    });
    return getRequestListener(app.fetch);
  },
};

const make = contenders[name];
if (!make) {
  console.error(`unknown contender ${name}; one of ${Object.keys(contenders).join(', ')}`);
  process.exit(2);
}
const handler = await make();
const server = createServer((req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('n'));
  const cpu = process.cpuUsage();
  res.on('close', () => {
    const used = process.cpuUsage(cpu);
    process.send({ type: 'done', n, cpuMicros: used.user + used.system });
  });
  handler(req, res, n);
});
server.listen(0, '127.0.0.1', () => {
  process.send({ type: 'listening', port: server.address().port });
});
process.on('message', (message) => {
  if (message === 'stop') server.close(() => process.exit(0));
});
