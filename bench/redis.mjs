// `npm run bench:redis` (issue #6): the Redis broker across hub instances against the in-memory
// broker on one instance, side by side in one run.
//
// Topologies (all processes on 127.0.0.1, every one its own OS process):
//   redis:  2 hubs (bench/redis-server.mjs, BROKER=redis) sharing one Redis; the publisher is a
//           third process with its own Redis connection (bench/redis-publisher.mjs); 2 client
//           processes (bench/redis-client.mjs), 500 raw-TCP SSE subscribers each, one per hub.
//   memory: 1 hub with the in-memory broker, publishing in-process (the cheapest baseline);
//           2 client processes with 500 subscribers each.
// Each run publishes at a fixed rate (1k, then 10k events/s) for a window; each event's data is
// its scheduled publish time (performance.timeOrigin based; a late publisher loop counts), and
// every 10th subscriber records now - that time: publish-to-deliver latency across instances. A run ends when every
// subscriber has every event (or after a timeout; the shortfall is printed as "missing").
// Hub CPU is the sum of the hub processes' process.cpuUsage() deltas (asked over IPC) divided by
// deliveries; Redis CPU is the INFO cpu delta (used_cpu_user + used_cpu_sys) over the run.
// Hub CPU is nearly all socket writes (one per subscriber per flush, ~5 µs each here), and a
// busy hub coalesces more events per flush: "deliveries/socket write" shows how many.
// Redis: the bench starts its own redis-server on a free port (stopped by PID at the end), so
// nobody else's load is in its CPU figure; with REDIS_URL set it uses that one instead (then
// Redis CPU includes whatever else that server serves).
// Rounds interleave the brokers (alternating which goes first); the table shows medians of the
// per-round figures. A warm-up run per broker comes first and is not counted.
// Bars: redis p99 <= 25 ms at 1k events/s; hub CPU per delivery with Redis <= 1.3x memory's.
// Bounded (about a minute): every child is killed at the end, on error, and after a deadline.
// On a shared machine latency follows the neighbours' load: compare the two brokers' rows of
// one run, and rerun when the memory baseline's own p99 is far above its p50.
// stderr: one line per run with diagnostics (publish -> hub feed lag, hub event-loop delay,
// hub and client CPU, publish round trip).
//
// Options: --rounds 5 --ms 2000 (window per run at 1k/s; 10k/s runs use half) --subs 1000
//   --rates 1000,10000 --instances 2 (1: one Redis hub, a diagnostic). BENCH_PROF=<dir>: CPU
//   profiles of the hubs (and of the clients with BENCH_PROF_CLIENTS=1).
//   --baseline DIR: the same two setups again with ssekit as built in DIR (a dist/ from before a
//   change: hubs and publisher alike, under their own key prefix), rows "memory (ssekit-base)"
//   and "redis (ssekit-base)", rotated with the others in every round; prints a line of
//   ssekit / ssekit-base ratios per broker and rate (before/after in one run). The run's
//   deadline grows with the setups.
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { supervise } from './lib/children.mjs';
import { BASELINE, baselineDir, childEnv, ratioLine } from './lib/dist.mjs';
import { mailbox } from './lib/mailbox.mjs';
import { option } from './lib/options.mjs';
import { startRedis } from './lib/redis.mjs';
import { median } from './lib/stats.mjs';

const ROUNDS = Number(option('--rounds', 5));
const WINDOW_MS = Number(option('--ms', 2000));
const SUBS = Number(option('--subs', 1000));
const INSTANCES = Number(option('--instances', 2));
const RATES = option('--rates', '1000,10000').split(',').map(Number);
const BASE_DIR = baselineDir();
// A setup ("mode") is a broker, of this build or of the baseline's.
const MODES = ['memory', 'redis', ...(BASE_DIR ? [`memory (${BASELINE})`, `redis (${BASELINE})`] : [])];
const brokerOf = (mode) => mode.split(' ')[0];
const isBase = (mode) => mode !== brokerOf(mode);
const DEADLINE_MS = (175_000 * MODES.length) / 2;
const P99_BAR_MS = 25;
const CPU_BAR = 1.3;
const file = (name) => fileURLToPath(new URL(name, import.meta.url));
const now = () => performance.timeOrigin + performance.now();

// Hubs and clients exit on IPC disconnect; the kill is for any that would not.
const procs = supervise('bench:redis', DEADLINE_MS, () => (process.env.BENCH_PROF ? 'SIGINT' : 'SIGKILL'));

function child(path, argv, env = {}) {
  // BENCH_PROF=<dir>: V8 CPU profiles of the hubs (and clients), written when they exit.
  const execArgv =
    (env.BROKER !== undefined || process.env.BENCH_PROF_CLIENTS) && process.env.BENCH_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`]
      : [];
  const proc = procs.fork(path, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: childEnv(BASE_DIR, env),
    execArgv,
  });
  const { next, ask } = mailbox(proc, path, 30_000);
  return { proc, next, ask };
}

const redisCpu = async (admin) => {
  const info = await admin.info('cpu');
  const field = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)[1]);
  return field('used_cpu_sys') + field('used_cpu_user');
};
// Pools the clients' quantile summaries, each point weighted by its client's sample count.
function pooledQuantile(reports, q) {
  const points = [];
  for (const r of reports) {
    const w = r.samples / r.quantiles.length;
    for (const v of r.quantiles) points.push([v, w]);
  }
  if (points.length === 0) return Number.NaN;
  points.sort((a, b) => a[0] - b[0]);
  const total = points.reduce((s, p) => s + p[1], 0);
  let acc = 0;
  for (const [v, w] of points) {
    acc += w;
    if (acc >= q * total) return v;
  }
  return points[points.length - 1][0];
}

async function main() {
  const loadBefore = loadavg()[0];
  const redis = await startRedis((proc) => procs.children.push(proc));
  const admin = new Redis(redis.url);
  admin.on('error', () => {});
  const prefix = `ssekit-bench:${process.pid}:`;
  const topic = 'bench';
  const half = Math.ceil(SUBS / 2);

  // The baseline's hubs and publisher use keys of their own: each build reads only its own
  // publisher's stream, whatever either writes there.
  const envOf = (mode) => ({
    REDIS_URL: redis.url,
    SSEKIT_PREFIX: isBase(mode) ? `${prefix}base:` : prefix,
    ...(isBase(mode) ? { SSEKIT_BASE: '1' } : {}),
  });
  const startHub = async (mode) => {
    const hub = child(file('./redis-server.mjs'), [], { BROKER: brokerOf(mode), ...envOf(mode) });
    const { port } = await hub.next();
    return { ...hub, port };
  };
  const startClients = async (ports) => {
    const clients = ports.map((port, i) =>
      child(file('./redis-client.mjs'), [String(port), String(i === 0 ? half : SUBS - half), topic]),
    );
    await Promise.all(clients.map((c) => c.next()));
    const answers = await Promise.all(clients.map((c) => c.ask({ cmd: 'connect' })));
    const connected = answers.reduce((s, a) => s + a.connected, 0);
    if (connected !== SUBS) throw new Error(`${connected} of ${SUBS} subscribers connected`);
    return clients.map((c, i) => ({ ...c, subs: i === 0 ? half : SUBS - half }));
  };

  const setups = {};
  for (const mode of MODES) {
    if (brokerOf(mode) === 'memory') {
      const memHub = await startHub(mode);
      setups[mode] = {
        hubs: [memHub],
        clients: await startClients([memHub.port, memHub.port]),
        publish: memHub,
      };
    } else {
      // --instances 1: one Redis hub (a diagnostic: the broker without the second process).
      const redisHubs = [await startHub(mode)];
      if (INSTANCES > 1) redisHubs.push(await startHub(mode));
      const publisher = child(file('./redis-publisher.mjs'), [], { BENCH_ROLE: 'publisher', ...envOf(mode) });
      await publisher.next();
      setups[mode] = {
        hubs: redisHubs,
        clients: await startClients([redisHubs[0].port, redisHubs[INSTANCES - 1].port]),
        publish: publisher,
      };
    }
  }

  async function run(mode, rate, ms) {
    const { hubs, clients, publish } = setups[mode];
    await Promise.all(clients.map((c) => c.ask({ cmd: 'reset' })));
    const cpu0 = await Promise.all(hubs.map((h) => h.ask({ cmd: 'cpu' })));
    const cc0 = await Promise.all(clients.map((c) => c.ask({ cmd: 'report' })));
    const rcpu0 = await redisCpu(admin);
    const t0 = now();
    const { sent, rttP50, rttP99 } = await publish.ask({ cmd: 'publish', rate, ms, topic }, ms + 10_000);
    const waits = await Promise.all(
      clients.map((c) => c.ask({ cmd: 'waitFor', events: sent * c.subs, timeoutMs: 10_000 }, 20_000)),
    );
    const cpu1 = await Promise.all(hubs.map((h) => h.ask({ cmd: 'cpu' })));
    const rcpu1 = await redisCpu(admin);
    const reports = await Promise.all(clients.map((c) => c.ask({ cmd: 'report' })));
    const clientCpuMs = (reports.reduce((s, r) => s + r.cpu, 0) - cc0.reduce((s, r) => s + r.cpu, 0)) / 1000;
    const delivered = reports.reduce((s, r) => s + r.events, 0);
    const elapsedS = (Math.max(...waits.map((w) => w.at)) - t0) / 1000;
    const hubCpuUs = cpu1.reduce((s, c, i) => s + c.cpu - cpu0[i].cpu, 0);
    return {
      mode,
      rate,
      sent,
      missing: sent * SUBS - delivered,
      p50: pooledQuantile(reports, 0.5),
      p99: pooledQuantile(reports, 0.99),
      deliveriesPerS: delivered / elapsedS,
      cpuUs: hubCpuUs / delivered,
      redisCpuMs: (rcpu1 - rcpu0) * 1000,
      // Diagnostics: publish -> hub feed latency (worst hub), clients' CPU (cumulative, ms).
      feedP50: Math.max(...cpu1.map((c) => c.feedP50 ?? 0)),
      feedP99: Math.max(...cpu1.map((c) => c.feedP99 ?? 0)),
      clientCpuMs,
      writesPerDelivery: cpu1.reduce((s, c, i) => s + c.writes - cpu0[i].writes, 0) / delivered,
      rtt: rttP50 === undefined ? '' : `, publish RTT p50/p99 ${rttP50.toFixed(2)}/${rttP99.toFixed(2)} ms`,
      loopP99: Math.max(...cpu1.map((c) => c.loopP99 ?? 0)),
      elapsedS,
    };
  }

  const windowFor = (rate) => (rate >= 10_000 ? WINDOW_MS / 2 : WINDOW_MS);
  // Warm-up (JIT, connections), not recorded.
  for (const mode of MODES) await run(mode, RATES[0], 500);

  const results = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const rate of RATES) {
      // Each setup goes first in turn (memory, redis; then redis, memory; ...).
      const shift = (round + RATES.indexOf(rate)) % MODES.length;
      const order = [...MODES.slice(shift), ...MODES.slice(0, shift)];
      for (const mode of order) {
        const r = await run(mode, rate, windowFor(rate));
        results.push({ ...r, round });
        console.error(
          `round ${round + 1} ${mode} ${rate}/s: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ` +
            `${Math.round(r.deliveriesPerS)} deliveries/s, ${r.cpuUs.toFixed(3)} µs/delivery, missing ${r.missing}; writes/delivery ${r.writesPerDelivery.toFixed(3)}, feed p50/p99 ${r.feedP50.toFixed(2)}/${r.feedP99.toFixed(2)} ms, hub CPU ${((r.cpuUs * r.deliveriesPerS * r.elapsedS) / 1000).toFixed(0)} ms, clients CPU ${r.clientCpuMs.toFixed(0)} ms, hub loop delay p99 ${r.loopP99.toFixed(1)} ms, run ${(r.elapsedS * 1000).toFixed(0)} ms${r.rtt}`,
        );
      }
    }
  }

  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const summary = {};
  for (const rate of RATES) {
    for (const mode of MODES) {
      const rs = results.filter((r) => r.rate === rate && r.mode === mode);
      summary[`${mode}:${rate}`] = {
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        dps: median(rs.map((r) => r.deliveriesPerS)),
        cpu: median(rs.map((r) => r.cpuUs)),
        perWrite: median(rs.map((r) => 1 / r.writesPerDelivery)),
        redisCpu: median(rs.map((r) => r.redisCpuMs)),
        missing: rs.reduce((s, r) => s + r.missing, 0),
      };
    }
  }
  console.log(
    `\nbench:redis: ${SUBS} subscribers in 2 client processes; redis = ${INSTANCES} hub process${INSTANCES > 1 ? 'es' : ''} + a publisher ` +
      `process, memory = 1 hub process; ${ROUNDS} rounds (medians), windows ${WINDOW_MS} ms at 1k/s, ` +
      `${WINDOW_MS / 2} ms at 10k/s; Redis ${redis.own ? `own redis-server (pid ${redis.pid})` : `${redis.url} (shared: its CPU figure includes other clients)`}`,
  );
  // Everything here shares the machine with whatever else runs: latency follows its load.
  console.log(
    `machine: ${availableParallelism()} CPUs, 1-min load average ${loadBefore.toFixed(1)} before, ` +
      `${loadavg()[0].toFixed(1)} after\n`,
  );
  console.log(
    '| events/s | broker | p50 ms | p99 ms | deliveries/s | hub CPU µs/delivery | ratio vs memory | Redis CPU ms/run | deliveries/socket write | missing |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const rate of RATES) {
    for (const mode of MODES) {
      const s = summary[`${mode}:${rate}`];
      // "vs memory": against the memory broker of the same build.
      const base = summary[`${mode.replace(brokerOf(mode), 'memory')}:${rate}`];
      console.log(
        `| ${rate} | ${mode} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.dps, 0)} | ${f(s.cpu, 3)} | ${f(s.cpu / base.cpu)} | ${brokerOf(mode) === 'redis' ? f(s.redisCpu, 0) : '-'} | ${f(s.perWrite, 1)} | ${s.missing} |`,
      );
    }
  }
  const lines = [];
  const p99 = summary['redis:1000']?.p99;
  if (p99 !== undefined) {
    lines.push(
      `${p99 <= P99_BAR_MS ? 'PASS' : 'FAIL'}: cross-instance p99 at 1k events/s ${f(p99)} ms (bar ${P99_BAR_MS} ms)`,
    );
  }
  for (const rate of RATES) {
    const ratio = summary[`redis:${rate}`].cpu / summary[`memory:${rate}`].cpu;
    lines.push(
      `${ratio <= CPU_BAR ? 'PASS' : 'FAIL'}: hub CPU per delivery, redis / memory at ${rate} events/s: ${f(ratio)}x (bar ${CPU_BAR}x)`,
    );
  }
  const missing = Object.values(summary).reduce((s, x) => s + x.missing, 0);
  lines.push(`${missing === 0 ? 'PASS' : 'FAIL'}: every subscriber got every event (${missing} missing)`);
  console.log(`\n${lines.join('\n')}`);
  if (BASE_DIR) {
    const ab = [];
    for (const rate of RATES) {
      for (const broker of ['memory', 'redis']) {
        const runsOf = (mode, key) =>
          results
            .filter((r) => r.rate === rate && r.mode === mode)
            .sort((a, b) => a.round - b.round)
            .map((r) => r[key]);
        const keys = ['p50', 'p99', 'cpuUs', ...(broker === 'redis' ? ['redisCpuMs'] : [])];
        ab.push(
          ratioLine(
            `${rate} events/s, ${broker}`,
            keys.map((key) => ({
              key,
              runs: runsOf(broker, key),
              baseRuns: runsOf(`${broker} (${BASELINE})`, key),
            })),
          ),
        );
      }
    }
    console.log(
      `\nssekit / ${BASELINE} (${BASE_DIR}), ratio of medians [per-round range], below 1 is better (cpuUs: hub CPU µs/delivery):\n${ab.join('\n')}`,
    );
  }
  if (!redis.own) {
    // A shared Redis: remove this run's keys.
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await admin.unlink(...keys);
    } while (cursor !== '0');
  }
  admin.disconnect();
}

/** Stops the hubs and clients first and waits (up to 2 s) for them, so none logs Redis going away. */
async function stopInOrder() {
  const others = procs.children.filter(
    (c) => c.spawnfile !== 'redis-server' && c.exitCode === null && c.signalCode === null,
  );
  const gone = others.map((c) => new Promise((resolve) => c.once('exit', resolve)));
  for (const c of others) c.kill(process.env.BENCH_PROF ? 'SIGINT' : 'SIGKILL');
  await Promise.race([Promise.all(gone), new Promise((resolve) => setTimeout(resolve, 2000))]);
  procs.killAll();
}

try {
  await main();
  await stopInOrder();
  process.exit(0);
} catch (error) {
  console.error(error);
  procs.killAll();
  process.exit(1);
}
