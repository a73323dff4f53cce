// One contender of `npm run bench:fanout`, in its own process so the CPU and RSS it reports are
// the server's alone. Usage: node --expose-gc bench/fanout-server.mjs <raw|ssekit|better-sse|ssekit-base>
// (ssekit-base: the hub built in SSEKIT_BASELINE_DIST, the parent's --baseline DIR; see lib/dist.mjs)
// GET /?topic=t subscribes; the parent drives publishing over IPC:
//   {cmd:'rss'}                     -> {rss}            (after a full GC)
//   {cmd:'conns'}                   -> {conns}          open connections
//   {cmd:'rate', rate, ms}          -> {cpu, events}    one event at a time, `rate` per second
//   {cmd:'flood', events, burst}    -> {start}          `burst` events per tick, as fast as possible
//   {cmd:'cpu'}                     -> {cpu}            process CPU (user + system) in µs
// Each event's data carries the time it was published (ms, performance.timeOrigin based).
import { createServer } from 'node:http';
import { setImmediate as tick } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import { BASELINE, loadDist } from './lib/dist.mjs';

const name = process.argv[2];
const now = () => performance.timeOrigin + performance.now();
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const data = (i) => `${now().toFixed(3)} ${i} {"text":"hello, subscribers","n":${i}}`;

const contenders = {
  // The floor users write by hand: one res.write per subscriber per event, one encoded string.
  async raw() {
    const clients = new Set();
    const server = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
      });
      res.flushHeaders();
      clients.add(res);
      res.on('close', () => clients.delete(res));
    });
    let seq = 0;
    const publish = (i) => {
      const text = `id: ${Date.now()}-${seq++}\ndata: ${data(i)}\n\n`;
      for (const res of clients) res.write(text);
    };
    return { server, publish };
  },

  // ssekit's hub through ssekit/node, from the built dist/.
  ssekit: () => ssekitServer(false),
  // The same, from the baseline's dist/: the same options, so both run the same workload.
  [BASELINE]: () => ssekitServer(true),

  // better-sse's channel: one session per subscriber, registered on one channel.
  async 'better-sse'() {
    const { createSession, createChannel } = await import('better-sse');
    const channel = createChannel();
    const server = createServer(async (req, res) => {
      const session = await createSession(req, res, { keepAlive: null, serializer: (d) => d });
      channel.register(session);
    });
    let seq = 0;
    const publish = (i) => {
      channel.broadcast(data(i), 'message', { eventId: `${Date.now()}-${seq++}` });
    };
    return { server, publish };
  },
};

async function ssekitServer(base) {
  const { createHub } = await loadDist('hub.js', base);
  const { createRequestListener } = await loadDist('node.js', base);
  const hub = createHub({
    heartbeat: false,
    // Every limit that would shape the workload is set here, not left to defaults that differ
    // between versions: all subscribers come from 127.0.0.1, and the flood queues a lot for a
    // moment; the bench measures throughput, not the policy.
    limits: {
      maxSubscribers: 1_000_000,
      maxSubscribersPerAddress: Number.POSITIVE_INFINITY,
      maxQueuedBytes: 256 * 1024 * 1024,
    },
  });
  const server = createServer(createRequestListener(hub.handler, { requestSignal: false }));
  const fail = (error) => {
    console.error(error);
    process.exit(1);
  };
  const publish = (i) => {
    hub.publish('t', data(i)).catch(fail);
  };
  return { server, publish };
}

const { server, publish } = await contenders[name]();
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));

let counter = 0;
process.on('message', async (m) => {
  if (m === 'stop') {
    process.exit(0);
  } else if (m.cmd === 'rss') {
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await tick();
    }
    const mu = process.memoryUsage();
    // V8's young generation (a nursery of fixed maximum size) grows with allocation rate, not
    // with connections; it is reported apart so RSS per connection is not skewed by it.
    const young = getHeapSpaceStatistics()
      .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
      .reduce((sum, s) => sum + s.space_size, 0);
    process.send({ rss: mu.rss, young, heap: mu.heapUsed });
  } else if (m.cmd === 'conns') {
    server.getConnections((_error, conns) => process.send({ conns }));
  } else if (m.cmd === 'cpu') {
    process.send({ cpu: cpuNow() });
  } else if (m.cmd === 'rate') {
    // Event k goes out at start + k / rate: no drift, one event per timer.
    const start = now();
    const cpu0 = cpuNow();
    let k = 0;
    await new Promise((resolve) => {
      const step = () => {
        const t = now() - start;
        if (t >= m.ms) return resolve();
        while (k <= (t * m.rate) / 1000) publish(counter++, k++);
        setTimeout(step, Math.max(0, (k * 1000) / m.rate - (now() - start)));
      };
      step();
    });
    await tick();
    process.send({ cpu: cpuNow() - cpu0, events: k });
  } else if (m.cmd === 'flood') {
    process.send({ start: now(), cpu: cpuNow() });
    for (let sent = 0; sent < m.events; ) {
      for (let b = 0; b < m.burst && sent < m.events; b++, sent++) publish(counter++);
      await tick();
    }
  }
});
