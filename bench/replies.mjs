// `npm run bench:replies` (issue #14): what resumability costs, side by side in one run.
//
// Contenders (bench/replies-server.mjs, each its own OS process, one server each, kept for the
// whole run; readers in another process, bench/replies-client.mjs, raw TCP, all on 127.0.0.1):
//   stream     plain streamEvents (ssekit/server): the tokens go to the socket, nothing kept
//   memory     ssekit/replies, in-memory broker
//   redis      ssekit/replies, createRedisBroker (ssekit/redis)
//   resumable  resumable-stream (the AI SDK's package, its ioredis entry) on the same Redis
// Every token comes from one shared upstream ticker in the server (5 ms ticks, each reply one
// token per turn, replies spread over the turns), the same for every contender.
//
// (1) CPU per token: R replies (200) of N tokens (100), one reader each, nobody resumes; (1a)
//     one token per upstream read at 50 tokens/s a reply, (1b) bursts of 10 tokens per read at
//     200 tokens/s a reply (a busy upstream: the stream then batches tokens into one socket
//     write, so what replies add per token shows most). Server process CPU (process.cpuUsage:
//     user + system) from the first POST to the end of the last response, divided by tokens:
//     the replies' own costs (start, open marker, end, timers) included. Readers read each
//     response to its end, as EventSource and connect() do (bench/replies-client.mjs). Bars:
//     memory <= 1.2x stream, redis <= 1.5x stream.
// (2) Resume latency: 1,000 replies at 20 tokens/s each (100 tokens, 5 s; started over 2 s),
//     every reader drops its connection once at a random time after all have started, stays
//     away 100 ms (so the log holds tokens it has not seen) and resumes with Last-Event-ID; from
//     the reconnect's connect() to the first token of the new response, p50/p99 over all readers. Bars: p99 <= 20 ms memory,
//     <= 30 ms redis. resumable-stream's row is for reference (it replays from the start). The
//     control, on plain streamEvents (nothing to resume): the same load, and at the same random
//     times each reader opens a new GET, a stream of one token there at once, on a second
//     connection: what any new request waits for on a server this busy (libuv accepts one
//     connection per turn of the event loop, libuv/libuv#3696, so a loop whose turns are long
//     queues new connections in the kernel: the accept leg below). Also
//     the server's side alone: from the GET's 'request' event to the first write carrying a
//     token; and the readers' and the server's event loop delays: a reader process that lags,
//     or a connection the kernel was slow to accept (a loaded machine), adds to every latency
//     the readers measure. And the server's CPU over the run's wall time, in cores: a server
//     process near 1 (its one event loop busy all the time) queues new connections, and the
//     accept leg below grows with it. And the resumes' legs (readers' and server's stamps joined by URL, one
//     clock): the reader's connect, to the server's accept, to its 'request' event, to the first
//     token written, to the reader reading it; p50/p99 and the slowest 1%'s median.
// (3) Against resumable-stream on the same Redis (a redis-server of the bench's own, so its
//     figures are the bench's alone): Redis commands per reply when nobody resumes (from (1))
//     and per resume (a run of (1)'s shape where every reader resumes once, minus (1), per
//     reader); counted as round trips each server process sends (ioredis commands) and as
//     commands Redis executes (INFO commandstats deltas; a script's own calls included). And
//     CPU per token, from (1).
// Rounds rotate the contenders; the tables show medians, and part (1) also each contender over
// streamEvents of the same round (median and range: how much the machine drifted). Every reader must get every token once
// (ssekit) or the run fails.
//
// Options: --rounds 3 --replies 200 --tokens 100 --rate 50 --burst 10 --burst-rate 200 (part 1)
//   --resumers 1000 (part 2) --warmup 3000 (replies each server serves first, not counted)
//   --only stream,memory,redis,resumable --parts 1,2,3
//   --baseline DIR: adds stream-base, memory-base and redis-base, ssekit as built in DIR (a dist/
//   from before a change), rotated with the others; prints ssekit / ssekit-base ratios.
//   BENCH_PROF=<dir>: CPU profiles of the servers (node --cpu-prof), written when they exit.
//   BENCH_TIMELINE=<path prefix>: each run's resume stamps (readers' and server's, see legsOf), as
//   JSON, one file per run: to see when in a run the slow resumes came (a queue that grows).
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { supervise } from './lib/children.mjs';
import { baselineDir, childEnv, ratioLine } from './lib/dist.mjs';
import { mailbox } from './lib/mailbox.mjs';
import { option } from './lib/options.mjs';
import { startRedis } from './lib/redis.mjs';
import { median } from './lib/stats.mjs';

const ROUNDS = Number(option('--rounds', 3));
const REPLIES = Number(option('--replies', 200));
const TOKENS = Number(option('--tokens', 100));
const RATE = Number(option('--rate', 50));
// (1b): the same replies and tokens, `BURST` tokens per upstream read at BURST_RATE tokens/s.
const BURST = Number(option('--burst', 10));
const BURST_RATE = Number(option('--burst-rate', 200));
const RESUMERS = Number(option('--resumers', 1000));
// Replies each server serves before anything is counted (see the warm-up in main()).
const WARMUP = Number(option('--warmup', 3000));
const RESUME_RATE = 20;
const RESUME_TOKENS = 100;
// Part 2's readers start over this long (a thousand POSTs in a burst would measure the burst),
// and resume once all have started.
const RESUME_SPREAD_MS = 2000;
const GAP_MS = 100;
const TICK_MS = 5; // the server's upstream ticker
const PARTS = option('--parts', '1,2,3').split(',').map(Number);
const BASE_DIR = baselineDir();
const NAMES = option('--only', 'stream,memory,redis,resumable').split(',');
const BASES = BASE_DIR
  ? NAMES.filter((n) => n === 'stream' || n === 'memory' || n === 'redis').map((n) => `${n}-base`)
  : [];
const ALL = [...NAMES, ...BASES];
const REDIS_NAMES = new Set(['redis', 'redis-base', 'resumable']);
// Plain streams: nothing to resume, so no part 2.
const resumable = (name) => name !== 'stream' && name !== 'stream-base';
const BARS = { memory: 1.2, redis: 1.5 };
const P99_BARS = { memory: 20, redis: 30 };
const DEADLINE_MS = 1_800_000;
const file = (name) => fileURLToPath(new URL(name, import.meta.url));

const procs = supervise('bench:replies', DEADLINE_MS);

function child(path, argv, env, execArgv = []) {
  const proc = procs.fork(path, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: childEnv(BASE_DIR, env),
    execArgv,
  });
  return { proc, ...mailbox(proc, `${path} ${argv.join(' ')}`, 60_000) };
}

const sum = (o) => Object.values(o).reduce((s, v) => s + v, 0);
const diff = (after, before) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

async function commandStats(admin) {
  const info = await admin.info('commandstats');
  const out = {};
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (name !== 'info') out[name] = Number(calls);
  }
  return out;
}
async function redisCpuMs(admin) {
  const info = await admin.info('cpu');
  const field = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)[1]);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}

/**
 * Where the resumes' time went, leg by leg: the readers' stamps joined with the server's by URL
 * (both on one clock, performance.timeOrigin + now()). `connect`: the reader's connect() to its
 * socket connected (its own loop); `accept`: connect() to the server's 'connection' event;
 * `parse`: that to the request's 'request' event (the server's loop, HTTP parsing); `server`:
 * 'request' to the first token written (ssekit's part); `deliver`: that write to the reader
 * reading the token (the kernel and the reader's loop). For each leg, p50 and p99 over all
 * resumes, and its median over the slowest 1% of resumes (end to end): where they lost their time.
 */
function legsOf(readers, servers) {
  const byUrl = new Map(servers.map((s) => [s[0], s]));
  const rows = [];
  for (const [url, t0, connected, first] of readers) {
    const s = byUrl.get(url);
    if (s === undefined) continue;
    const [, accepted, request, written] = s;
    rows.push({
      total: first - t0,
      connect: connected - t0,
      accept: accepted - t0,
      parse: request - accepted,
      server: written - request,
      deliver: first - written,
    });
  }
  const legs = ['connect', 'accept', 'parse', 'server', 'deliver'];
  const q = (xs, p) => {
    const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : Number.NaN;
  };
  const slow = [...rows]
    .sort((a, b) => b.total - a.total)
    .slice(0, Math.max(1, Math.ceil(rows.length / 100)));
  const out = { joined: rows.length };
  for (const leg of legs) {
    const xs = rows.map((r) => r[leg]);
    out[leg] = { p50: q(xs, 0.5), p99: q(xs, 0.99), slow: median(slow.map((r) => r[leg])) };
  }
  return out;
}

const legLine = (legs) =>
  ['connect', 'accept', 'parse', 'server', 'deliver']
    .map(
      (leg) => `${leg} ${legs[leg].p50.toFixed(1)}/${legs[leg].p99.toFixed(1)}/${legs[leg].slow.toFixed(1)}`,
    )
    .join(', ');

async function main() {
  const loadBefore = loadavg()[0];
  const redis = await startRedis((proc) => procs.children.push(proc));
  const admin = new Redis(redis.url);
  admin.on('error', () => {});
  const prefix = `ssekit-bench-replies:${process.pid}:`;
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];

  const servers = {};
  for (const name of ALL) {
    const server = child(
      file('./replies-server.mjs'),
      [name],
      {
        REDIS_URL: redis.url,
        SSEKIT_PREFIX: `${prefix}${name}:`,
        RS_PREFIX: `${prefix}rs`,
      },
      prof,
    );
    servers[name] = { ...server, port: (await server.next()).port };
  }
  const client = child(file('./replies-client.mjs'), [], {});
  await client.next();

  /** One run against one contender: readers, tokens, and what the server and Redis spent. */
  async function run(name, { replies, tokens, rate, burst = 1, resume, spreadMs }) {
    const server = servers[name];
    const periodTicks = Math.max(1, Math.round((1000 * burst) / rate / TICK_MS));
    await server.ask({ cmd: 'pace', periodTicks, burst });
    const durationMs = (tokens / rate) * 1000;
    const c0 = await server.ask({ cmd: 'cpu' }); // also resets the server's resume samples
    const s0 = await commandStats(admin);
    const r0 = await redisCpuMs(admin);
    const t0 = performance.now();
    const result = await client.ask(
      {
        cmd: 'run',
        port: server.port,
        replies,
        tokens,
        startSpreadMs: spreadMs ?? Math.min(500, durationMs / 4),
        timeoutMs: durationMs + 30_000,
        resume,
      },
      durationMs + 60_000,
    );
    const elapsedMs = performance.now() - t0;
    const c1 = await server.ask({ cmd: 'cpu' });
    const s1 = await commandStats(admin);
    const r1 = await redisCpuMs(admin);
    const sent = diff(c1.redis, c0.redis);
    if (process.env.BENCH_TIMELINE && result.timeline) {
      const { writeFileSync } = await import('node:fs');
      const path = `${process.env.BENCH_TIMELINE}-${name}-${Date.now()}.json`;
      writeFileSync(path, JSON.stringify({ readers: result.timeline, server: c1.timeline }));
    }
    return {
      legs: legsOf(result.timeline ?? [], c1.timeline ?? []),
      ...result,
      cpuPerToken: (c1.cpu - c0.cpu) / (replies * tokens),
      // The server's CPU over the run's wall time: the share of one core it kept busy (a loop
      // near 1 queues what comes in, new connections included).
      cores: (c1.cpu - c0.cpu) / (elapsedMs * 1000),
      roundTrips: sum(sent),
      sent,
      executed: sum(diff(s1, s0)),
      executedBy: diff(s1, s0),
      redisCpuMsPer1k: ((r1 - r0) / (replies * tokens)) * 1000,
      loopP99: c1.loopP99,
      serverP50: c1.resumeP50,
      serverP99: c1.resumeP99,
    };
  }

  const part1 = { replies: REPLIES, tokens: TOKENS, rate: RATE, resume: null };
  const part1b = { ...part1, rate: BURST_RATE, burst: BURST };
  const part3 = {
    ...part1,
    resume: { fromMs: 0.2 * (TOKENS / RATE) * 1000, toMs: 0.8 * (TOKENS / RATE) * 1000, gapMs: GAP_MS },
  };
  const part2 = {
    replies: RESUMERS,
    tokens: RESUME_TOKENS,
    rate: RESUME_RATE,
    spreadMs: RESUME_SPREAD_MS,
    // Each reader's resume comes after every reader has started, and before its reply ends.
    resume: { fromMs: RESUME_SPREAD_MS, toMs: (RESUME_TOKENS / RESUME_RATE) * 1000 - 500, gapMs: GAP_MS },
  };

  // (2)'s control, on the plain streams: the same load, and at the same random times a new GET
  // (a stream of one token, there at once) on a second connection; what a new request waits for
  // on this server, with nothing resumed.
  const part2Control = { ...part2, resume: { ...part2.resume, fresh: true } };

  // Warm-up, not counted: WARMUP replies of 10 tokens in batches of 500 (V8 goes on optimizing
  // the code a server runs once a reply, its start, response and end, for its first few thousand
  // replies: in one process, `node --trace-opt` counted 51 optimizations in a server's first 500
  // replies of 2 tokens, 25 in replies 1,501-2,000, 5 in 2,501-3,000, 0 to 3 in each 500 after
  // 3,500; streamEvents 31, 12 and 3), then one run with resumes (connections, Redis scripts).
  for (const name of ALL) {
    for (let done = 0; done < WARMUP; done += 500)
      await run(name, { replies: Math.min(500, WARMUP - done), tokens: 10, rate: 200, resume: null });
    await run(name, { replies: 50, tokens: 40, rate: 200, resume: part3.resume });
  }

  const results = [];
  const problems = [];
  const findings = [];
  const record = (part, name, round, r) => {
    results.push({ part, name, round, ...r });
    const ssekit = name !== 'resumable';
    const line = `part ${part} ${name} round ${round + 1}: ${r.failed} failed, ${r.missing} missing, ${r.repeated} repeated`;
    // ssekit's readers must get every token once, or the run fails; resumable-stream's losses
    // (it replays from the start, and loses what its producer's process no longer holds) are
    // a finding about the reference, reported beside the results.
    if (ssekit && (r.failed > 0 || r.missing > 0 || r.repeated > 0)) problems.push(line);
    else if (!ssekit && (r.failed > 0 || r.missing > 0)) findings.push(line);
    console.error(
      `round ${round + 1} part ${part} ${name}: ${r.cpuPerToken.toFixed(2)} µs/token` +
        (r.samples
          ? `, resume p50/p99/max ${r.p50.toFixed(2)}/${r.p99.toFixed(2)}/${r.max.toFixed(2)} ms (${r.samples}), server's side p50/p99 ${r.serverP50.toFixed(2)}/${r.serverP99.toFixed(2)} ms, server CPU ${r.cores.toFixed(2)} cores`
          : '') +
        (REDIS_NAMES.has(name) ? `, ${r.roundTrips} round trips, ${r.executed} executed` : '') +
        `, ${r.done} done, ${r.failed} failed, ${r.missing} missing, ${r.repeated} repeated, loop delay p99 server ${r.loopP99.toFixed(1)} ms, readers ${r.clientLoopP99.toFixed(1)} ms` +
        (r.samples && r.legs.joined > 0
          ? `\n  legs p50/p99/slowest 1% (ms, ${r.legs.joined} joined): ${legLine(r.legs)}`
          : ''),
    );
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = ALL.map((_, i) => ALL[(i + round) % ALL.length]);
    for (const name of order) {
      if (PARTS.includes(1) || PARTS.includes(3)) record(1, name, round, await run(name, part1));
      if (PARTS.includes(1)) record('1b', name, round, await run(name, part1b));
      if (PARTS.includes(3) && REDIS_NAMES.has(name)) record(3, name, round, await run(name, part3));
      if (PARTS.includes(2)) record(2, name, round, await run(name, resumable(name) ? part2 : part2Control));
    }
  }

  const of = (part, name, key) =>
    results
      .filter((r) => r.part === part && r.name === name)
      .sort((a, b) => a.round - b.round)
      .map((r) => r[key]);
  const med = (part, name, key) => median(of(part, name, key));
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

  console.log(
    `\nbench:replies (node ${process.version}; ${availableParallelism()} CPUs, 1-min load ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after; ` +
      `Redis ${redis.own ? `own redis-server (pid ${redis.pid})` : `${redis.url} (shared)`}; median of ${ROUNDS} rounds)`,
  );
  const lines = [];
  if (PARTS.includes(1)) {
    console.log(
      `\n(1) Server CPU per token: ${REPLIES} replies x ${TOKENS} tokens, one reader each, nobody resumes; ` +
        `(1a) one token per upstream read, ${RATE} tokens/s a reply; (1b) ${BURST} tokens per read, ${BURST_RATE} tokens/s a reply\n`,
    );
    console.log(
      '| server | (1a) CPU µs/token | vs stream | (1b) CPU µs/token | vs stream | Redis CPU ms/1k tokens (1a) |',
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    const stream = med(1, 'stream', 'cpuPerToken');
    const streamB = med('1b', 'stream', 'cpuPerToken');
    for (const name of ALL) {
      const cpu = med(1, name, 'cpuPerToken');
      const cpuB = med('1b', name, 'cpuPerToken');
      console.log(
        `| ${name} | ${f(cpu)} | ${f(cpu / stream)}x | ${f(cpuB)} | ${f(cpuB / streamB)}x | ${REDIS_NAMES.has(name) ? f(med(1, name, 'redisCpuMsPer1k')) : '-'} |`,
      );
    }
    // The machine's speed drifts between rounds (a shared or virtual machine): each contender over
    // streamEvents in the same round, with the spread of those ratios, says how far to trust the
    // ratio of medians above (which the bars below judge).
    if (ALL.includes('stream') && ROUNDS > 1) {
      const paired = (part, name) => {
        const own = of(part, name, 'cpuPerToken');
        const streams = of(part, 'stream', 'cpuPerToken');
        const ratios = own.map((x, i) => x / streams[i]);
        return `${f(median(ratios))}x [${f(Math.min(...ratios))}-${f(Math.max(...ratios))}]`;
      };
      console.log('\nPer round, over streamEvents of the same round: median [range]');
      for (const name of ALL.filter((n) => n !== 'stream')) {
        console.log(`  ${name}: (1a) ${paired(1, name)}, (1b) ${paired('1b', name)}`);
      }
    }
    for (const name of ['memory', 'redis']) {
      if (!ALL.includes(name) || !ALL.includes('stream')) continue;
      for (const [label, part, base] of [
        ['(1a)', 1, stream],
        ['(1b)', '1b', streamB],
      ]) {
        const ratio = med(part, name, 'cpuPerToken') / base;
        lines.push(
          `${ratio <= BARS[name] ? 'PASS' : 'FAIL'}: ${label} CPU per token, replies on ${name} / streamEvents: ${f(ratio)}x (bar ${BARS[name]}x)`,
        );
      }
    }
  }
  if (PARTS.includes(2)) {
    console.log(
      `\n(2) Reconnect -> first resumed token: ${RESUMERS} replies at ${RESUME_RATE} tokens/s (${RESUME_TOKENS} tokens), each reader resumes once after ${GAP_MS} ms away\n`,
    );
    console.log(
      '| server | p50 ms | p99 ms | max ms | resumes | server side p50 ms | p99 ms | CPU µs/token | server CPU, cores | loop delay p99 ms: server | readers |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const name of ALL) {
      console.log(
        `| ${resumable(name) ? name : `${name} (control: a new GET)`} | ${f(med(2, name, 'p50'))} | ${f(med(2, name, 'p99'))} | ${f(med(2, name, 'max'))} | ${f(med(2, name, 'samples'), 0)} | ${f(med(2, name, 'serverP50'))} | ${f(med(2, name, 'serverP99'))} | ${f(med(2, name, 'cpuPerToken'))} | ${f(med(2, name, 'cores'))} | ${f(med(2, name, 'loopP99'), 1)} | ${f(med(2, name, 'clientLoopP99'), 1)} |`,
      );
    }
    console.log(
      '\nWhere the resumes lost their time, ms (median over rounds of: p50 / p99 / median of the slowest 1%):',
    );
    for (const name of ALL) {
      const runs = results.filter((r) => r.part === 2 && r.name === name && r.legs.joined > 0);
      if (runs.length === 0) continue;
      const legs = {};
      for (const leg of ['connect', 'accept', 'parse', 'server', 'deliver']) {
        legs[leg] = {};
        for (const k of ['p50', 'p99', 'slow']) legs[leg][k] = median(runs.map((r) => r.legs[leg][k]));
      }
      console.log(`  ${name}: ${legLine(legs)}`);
    }
    for (const name of ['memory', 'redis']) {
      if (!ALL.includes(name)) continue;
      const p99 = med(2, name, 'p99');
      lines.push(
        `${p99 <= P99_BARS[name] ? 'PASS' : 'FAIL'}: (2) resume p99 on ${name}: ${f(p99)} ms (bar ${P99_BARS[name]} ms)`,
      );
    }
  }
  if (PARTS.includes(3)) {
    console.log(
      `\n(3) Redis commands, ${REPLIES} replies x ${TOKENS} tokens; per resume: the same with every reader resuming once, minus that, per reader\n`,
    );
    console.log(
      '| server | round trips/reply | executed/reply | round trips/resume | executed/resume | CPU µs/token | sent per reply (by command) |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---|');
    for (const name of ALL.filter((n) => REDIS_NAMES.has(n))) {
      const trips = med(1, name, 'roundTrips') / REPLIES;
      const executed = med(1, name, 'executed') / REPLIES;
      const tripsResume = (med(3, name, 'roundTrips') - med(1, name, 'roundTrips')) / REPLIES;
      const executedResume = (med(3, name, 'executed') - med(1, name, 'executed')) / REPLIES;
      const last = results.filter((r) => r.part === 1 && r.name === name).at(-1);
      const by = Object.entries(last?.sent ?? {})
        .filter(([, v]) => v > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${f(v / REPLIES, 1)}`)
        .join(', ');
      console.log(
        `| ${name} | ${f(trips, 1)} | ${f(executed, 1)} | ${f(tripsResume, 1)} | ${f(executedResume, 1)} | ${f(med(1, name, 'cpuPerToken'))} | ${by} |`,
      );
    }
  }
  if (problems.length > 0)
    lines.push(`FAIL: ssekit readers did not get every token once:\n  ${problems.join('\n  ')}`);
  else lines.push('PASS: every ssekit reader got every token once (resumes included)');
  if (findings.length > 0)
    lines.push(`(resumable-stream's readers lost tokens or failed:\n  ${findings.join('\n  ')})`);
  console.log(`\n${lines.join('\n')}`);
  if (BASE_DIR) {
    const ab = [];
    for (const name of ['memory', 'redis']) {
      if (!ALL.includes(`${name}-base`)) continue;
      const metrics = [
        { part: 1, key: 'cpuPerToken' },
        { part: 2, key: 'p50' },
        { part: 2, key: 'p99' },
      ]
        .filter(({ part }) => PARTS.includes(part))
        .map(({ part, key }) => ({
          key: `(${part}) ${key}`,
          runs: of(part, name, key),
          baseRuns: of(part, `${name}-base`, key),
        }));
      ab.push(ratioLine(name, metrics));
    }
    console.log(
      `\nssekit / ssekit-base (${BASE_DIR}), ratio of medians [per-round range], below 1 is better:\n${ab.join('\n')}`,
    );
  }
  admin.disconnect();
}

try {
  await main();
  for (const c of procs.children)
    if (c.exitCode === null && c.spawnfile !== 'redis-server') c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, process.env.BENCH_PROF ? 2000 : 200));
  procs.killAll();
  process.exit(0);
} catch (error) {
  console.error(error);
  procs.killAll();
  process.exit(1);
}
