// The server side of `npm run bench:connections`: idle subscribers held by one process, or by the
// workers of a node:cluster behind one port. Listens on 127.0.0.1 only.
// Usage: node --expose-gc bench/connections-server.mjs <raw|ssekit|ssekit-base> <workers>
//   workers = 0: one process. workers > 0: a cluster primary and that many workers; for ssekit the
//   primary serves one in-memory broker to every worker (serveClusterBroker / createClusterBroker,
//   as a real deployment shares it), for raw the primary relays each broadcast to the workers.
// GET /?topic=t subscribes. The parent drives it over IPC:
//   first message                 -> {port, pids}            pids of every server process
//   {cmd:'rss'}                   -> {rss, young, perProcess} summed over every server process,
//                                                            after full GCs
//   {cmd:'conns'}                 -> {conns, perProcess}     open connections
//   {cmd:'publish'}               -> {t0}                    one broadcast; t0 = just before it
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { setImmediate as tick } from 'node:timers/promises';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { BASELINE, loadDist } from './lib/dist.mjs';

const [name, workersArg] = process.argv.slice(2);
// 'ssekit-base' is the hub built elsewhere (--baseline DIR of the parent): an A/B in one run.
const kind = name === BASELINE ? 'ssekit' : name;
const load = (file) => loadDist(file, name === BASELINE);
const WORKERS = Number(workersArg ?? 0);
const now = () => performance.timeOrigin + performance.now();

async function rssNow() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await tick();
  }
  // V8's young generation grows with allocation rate, not with connections: reported apart, as
  // in bench/fanout-server.mjs, and subtracted the same way for every contender.
  const young = getHeapSpaceStatistics()
    .filter((s) => s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
    .reduce((sum, s) => sum + s.space_size, 0);
  // Where the RSS goes (printed by the parent with --verbose): V8's heap, committed and live,
  // and what V8 mallocs or tracks outside it.
  const h = getHeapStatistics();
  const heap = {
    committed: h.total_heap_size,
    used: h.used_heap_size,
    malloced: h.malloced_memory,
    external: h.external_memory,
  };
  for (const space of getHeapSpaceStatistics()) {
    heap[`${space.space_name}.committed`] = space.space_size;
    heap[`${space.space_name}.used`] = space.space_used_size;
  }
  return { rss: process.memoryUsage.rss(), young, heap };
}

/** One process's HTTP server; `broker` set in a cluster worker of the ssekit kind. */
async function makeServer(clusterBroker) {
  if (kind === 'raw') {
    // What users write by hand: headers written at once, the response kept in a Set. The same
    // bytes as the hub puts on the wire, the same way: its headers (SSE_HEADERS), flushed at
    // once, then the ':' comment it opens every stream with, as a second write.
    const clients = new Set();
    const server = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
      res.write(':\n\n');
      clients.add(res);
      res.on('close', () => clients.delete(res));
    });
    let seq = 0;
    const publish = (data) => {
      const text = `id: ${seq++}\ndata: ${data}\n\n`;
      for (const res of clients) res.write(text);
    };
    return { server, publish };
  }
  const { createHub } = await load('hub.js');
  const { createRequestListener } = await load('node.js');
  // Heartbeats off as in the raw server (and bench:fanout): the clients count every "\n\n".
  const hub = createHub({
    heartbeat: false,
    // Set, not left to defaults that differ between versions: each client process opens up to
    // 15,000 subscribers from one source address.
    limits: { maxSubscribers: 1_000_000, maxSubscribersPerAddress: Number.POSITIVE_INFINITY },
    ...(clusterBroker ? { broker: clusterBroker } : {}),
  });
  const server = createServer(createRequestListener(hub.handler, { requestSignal: false }));
  const publish = (data) => {
    hub.publish('t', data).catch((error) => {
      console.error(error);
      process.exit(1);
    });
  };
  return { server, publish };
}

// A connection past the open-files limit must be refused, not crash the process on EMFILE: the
// server closes connections past this bound, and the parent sees fewer held than opened.
function maxConnections() {
  const limit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
  return Number.isFinite(limit) ? limit - 40 : Number.POSITIVE_INFINITY;
}

const connsOf = (server) => new Promise((resolve) => server.getConnections((_e, n) => resolve(n ?? 0)));

if (WORKERS === 0) {
  // One process holds every subscriber.
  process.on('disconnect', () => process.exit(0)); // the parent is gone
  const { server, publish } = await makeServer();
  server.maxConnections = maxConnections();
  let k = 0;
  process.on('message', async (m) => {
    if (m.cmd === 'rss') {
      const r = await rssNow();
      process.send({ ...r, perProcess: [r] });
    } else if (m.cmd === 'conns') {
      const conns = await connsOf(server);
      process.send({ conns, perProcess: [conns] });
    } else if (m.cmd === 'publish') {
      const t0 = now();
      publish(`${t0.toFixed(3)} broadcast ${k++}`);
      process.send({ t0 });
    }
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
    process.send({ port: server.address().port, pids: [process.pid] }),
  );
} else if (cluster.isPrimary) {
  // Workers exit with the primary (cluster workers exit when their IPC channel closes); the
  // primary also kills them itself on the way out.
  const workers = [];
  let exiting = false;
  const killWorkers = () => {
    exiting = true;
    for (const w of workers) if (w.process.exitCode === null) w.process.kill('SIGKILL');
  };
  process.on('exit', killWorkers);
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));

  let broker;
  if (kind === 'ssekit') {
    const { createMemoryBroker } = await load('hub.js');
    const { serveClusterBroker } = await load('node.js');
    broker = createMemoryBroker();
    serveClusterBroker(broker);
  }
  cluster.setupPrimary({ execArgv: ['--expose-gc'], args: [name, String(WORKERS)] });
  // Replies from workers, matched by a sequence number per request.
  let seq = 0;
  const waiting = new Map();
  const askAll = (bench) => {
    const id = ++seq;
    return Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            waiting.set(`${id}:${w.id}`, resolve);
            w.send({ bench, id });
          }),
      ),
    );
  };
  let port;
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork();
    workers.push(w);
    w.on('message', (m) => {
      if (m?.bench === 'reply') {
        waiting.get(`${m.id}:${w.id}`)?.(m.value);
        waiting.delete(`${m.id}:${w.id}`);
      }
    });
    w.on('exit', (code, signal) => {
      if (!exiting) {
        console.error(`connections-server: worker ${w.process.pid} exited (${code ?? signal})`);
        process.exit(1);
      }
    });
  }
  await Promise.all(
    workers.map((w) => new Promise((resolve) => w.once('listening', (a) => resolve((port = a.port))))),
  );

  let k = 0;
  process.on('message', async (m) => {
    if (m.cmd === 'rss') {
      const mine = await rssNow();
      const theirs = await askAll('rss');
      const all = [mine, ...theirs];
      process.send({
        rss: all.reduce((s, r) => s + r.rss, 0),
        young: all.reduce((s, r) => s + r.young, 0),
        perProcess: all,
      });
    } else if (m.cmd === 'conns') {
      const per = await askAll('conns');
      process.send({ conns: per.reduce((a, b) => a + b, 0), perProcess: per });
    } else if (m.cmd === 'publish') {
      const t0 = now();
      const data = `${t0.toFixed(3)} broadcast ${k++}`;
      // ssekit: into the shared broker, which feeds every worker's hub; raw: relayed by hand.
      if (broker) await broker.publish(['t'], { data });
      else for (const w of workers) w.send({ bench: 'publish', data });
      process.send({ t0 });
    }
  });
  process.send({ port, pids: [process.pid, ...workers.map((w) => w.process.pid)] });
} else {
  // A worker: its own server on the shared port.
  let clusterBroker;
  if (kind === 'ssekit') {
    const { createClusterBroker } = await load('node.js');
    clusterBroker = createClusterBroker();
  }
  const { server, publish } = await makeServer(clusterBroker);
  server.maxConnections = maxConnections();
  process.on('message', async (m) => {
    if (m?.bench === 'rss') process.send({ bench: 'reply', id: m.id, value: await rssNow() });
    else if (m?.bench === 'conns') process.send({ bench: 'reply', id: m.id, value: await connsOf(server) });
    else if (m?.bench === 'publish') publish(m.data);
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
}
