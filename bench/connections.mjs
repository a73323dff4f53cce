// `npm run bench:connections`: how many idle subscribers one hub process holds, what each costs
// in RSS, and how long one broadcast takes to reach them all; then 100,000 subscribers over the
// workers of a node:cluster behind one port, with the same figures. Every figure is set side by
// side, in the same run, with a raw node:http server that holds the same number of idle SSE
// responses (the same headers and opening comment as the hub, nothing else).
//
//   connections  held by the server (counted by the server) out of those the clients opened
//   RSS/conn     (RSS with every subscriber connected - RSS of the warmed server before any),
//                both after full GCs and without V8's young generation, / connections; summed
//                over every server process (primary included) in cluster mode
//   broadcast    publish time (taken in the server just before publishing) to the moment the
//                last subscriber has the event, median of several broadcasts
//
// Limits this machine sets, and how the bench stays inside them:
// - open files (ulimit -n, 20,000 here) per process: the one-process run opens as many
//   subscribers as the server's limit leaves after the files it already has open (minus a small
//   margin); clients are spread over several processes of at most 15,000 sockets each.
// - ephemeral ports: net.ipv4.ip_local_port_range gives ~28,000 ports per (source address,
//   destination address, port), too few for 100,000 connections to one port. The server keeps one
//   address and port (127.0.0.1, as a real deployment behind one port would); each client process
//   binds its sockets to its own loopback source address (127.0.0.11, .12, ...: all of 127/8 is
//   loopback on Linux), so every client has a port range to itself. It names the source ports
//   itself (from 10,000 up, below the ephemeral range): the kernel's search for a free port on
//   bind(port 0) grew with the sockets already bound, to ~1 ms of system time per connection
//   near 100k. (The alternative, the server listening on several ports, would change what is
//   measured: one port, as behind a load balancer, is the case that matters.)
// Bounded: every step has a timeout, the whole run a deadline; every child (and every cluster
// worker, by pid) is killed on the way out, also on error or Ctrl-C.
//
// Options: --single N (default: as many as the server's open-files limit allows)
//          --rounds R: the one-process run R times, contenders interleaved (ssekit, raw, ssekit,
//          raw, ...); the table gives medians over the rounds, the ratio is the median of each
//          round's ratio
//          --quick: --single 10000 --rounds 5 --broadcasts 1 --skip-cluster (a fast before/after)
//          --total 100000 --workers 10 --per-client 15000 --broadcasts 5 --only raw,ssekit
//          --baseline DIR: adds the contender ssekit-base, the hub as built in DIR (a copy of
//          dist/ from before a change): before/after in one run, interleaved, with a line of
//          ssekit / ssekit-base ratios for the one-process run
//          --server-flags '--trace-gc-nvp ...': node flags for the server processes
//          --verbose (one process: where each connection's bytes go, V8 heap vs the rest)
//          --skip-cluster --no-bind (clients let the kernel pick source address and port)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BASELINE, baselineDir, childEnv, ratioLine } from './lib/dist.mjs';
import { mailbox } from './lib/mailbox.mjs';
import { args, option } from './lib/options.mjs';
import { median } from './lib/stats.mjs';

if (args.includes('--quick')) {
  // Presets first, so flags given explicitly (found first by indexOf) win.
  args.push('--single', '10000', '--rounds', '5', '--broadcasts', '1', '--skip-cluster');
}
const SINGLE = option('--single', 'auto');
const TOTAL = Number(option('--total', 100_000));
const WORKERS = Number(option('--workers', 10));
const PER_CLIENT = Number(option('--per-client', 15_000));
const BROADCASTS = Number(option('--broadcasts', 5));
const ROUNDS = Number(option('--rounds', 1));
const BASE_DIR = baselineDir();
const NAMES = option('--only', BASE_DIR ? `raw,ssekit,${BASELINE}` : 'raw,ssekit').split(',');
const SKIP_CLUSTER = args.includes('--skip-cluster');
const VERBOSE = args.includes('--verbose');
const SERVER_FLAGS = (option('--server-flags', '') || '').split(' ').filter(Boolean);
const GOAL = 19_000; // issue #5: subscribers one hub process must hold
const RSS_BAR = 1.25; // issue #5: hub RSS per idle connection at most this times raw node:http's
const WARM = 100; // per server process: connections opened and closed before the baseline RSS (code warmed, pools not inflated)
const DEADLINE_MS = 15 * 60_000;

const serverFile = fileURLToPath(new URL('./connections-server.mjs', import.meta.url));
const clientFile = fileURLToPath(new URL('./fanout-client.mjs', import.meta.url));

// ---- children, and killing them all ---------------------------------------------------------

const children = new Set(); // ChildProcess
const extraPids = new Set(); // cluster workers (children of a server child)
function killAll() {
  for (const proc of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  for (const pid of extraPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`bench:connections: ${signal}, stopping every child`);
    process.exit(130);
  });
}
const deadline = setTimeout(() => {
  console.error(`bench:connections: not done in ${DEADLINE_MS / 1000} s, stopping every child`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

function child(file, argv, execArgv = []) {
  const proc = fork(file, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
    env: childEnv(BASE_DIR),
  });
  children.add(proc);
  const { next, ask } = mailbox(proc, `${file} ${argv.join(' ')}`, 60_000);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    children.delete(proc);
  };
  return { proc, next, ask, stop };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Each client process gets its own loopback source address, never reused within a run.
let nextAddress = 11;
const NO_BIND = args.includes('--no-bind');
const takeAddress = () => {
  if (NO_BIND) return '';
  if (nextAddress > 254) throw new Error('out of loopback source addresses');
  return `127.0.0.${nextAddress++}`;
};

function openFiles(pid) {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const limit = Number(/Max open files\s+(\d+)/.exec(limits)?.[1]);
  return { limit, open: readdirSync(`/proc/${pid}/fd`).length };
}

async function startClients(port, total) {
  const count = Math.ceil(total / PER_CLIENT);
  const clients = [];
  for (let i = 0; i < count; i++) {
    const n = Math.floor(total / count) + (i < total % count ? 1 : 0);
    const c = child(clientFile, [String(port), String(n), takeAddress()]);
    c.n = n;
    clients.push(c);
  }
  await Promise.all(clients.map((c) => c.next()));
  return clients;
}

/** Sends one broadcast; resolves with ms from publish to the last subscriber's delivery. */
async function broadcast(server, clients) {
  await Promise.all(clients.map((c) => c.ask({ cmd: 'reset', latency: false })));
  const arrivals = clients.map((c) => c.ask({ cmd: 'waitFor', events: c.n }, 60_000));
  const { t0 } = await server.ask({ cmd: 'publish' });
  const ats = await Promise.all(arrivals);
  return Math.max(...ats.map((a) => a.at)) - t0;
}

async function measure(name, workers, target) {
  const server = child(serverFile, [name, String(workers)], ['--expose-gc', ...SERVER_FLAGS]);
  const clients = [];
  try {
    const { port, pids } = await server.next(60_000);
    for (const pid of pids.slice(1)) extraPids.add(pid);
    if (target === 'auto') {
      const { limit, open } = openFiles(pids[0]);
      target = limit - open - 64; // a margin for files node opens on its own
    }
    // Warm-up: some subscribers come and go and get a couple of broadcasts, so the baseline
    // includes the code paths and pools a connection uses.
    const warm = await startClients(port, Math.min(WARM * Math.max(1, workers), target));
    for (const c of warm) {
      const { connected } = await c.ask({ cmd: 'connect' }, 60_000);
      if (connected !== c.n) throw new Error(`${name}: warm-up connected ${connected} of ${c.n}`);
    }
    for (let i = 0; i < 2; i++) await broadcast(server, warm);
    for (const c of warm) await c.stop();
    for (let i = 0; (await server.ask({ cmd: 'conns' })).conns > 0; i++) {
      if (i > 100) throw new Error(`${name}: warm-up connections did not close`);
      await sleep(100);
    }
    const before = await server.ask({ cmd: 'rss' }, 60_000);

    clients.push(...(await startClients(port, target)));
    const t = performance.now();
    const results = await Promise.all(clients.map((c) => c.ask({ cmd: 'connect' }, 480_000)));
    const connectSeconds = (performance.now() - t) / 1000;
    const connected = results.reduce((s, r) => s + r.connected, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    const { conns, perProcess } = await server.ask({ cmd: 'conns' });
    const after = await server.ask({ cmd: 'rss' }, 60_000);
    const rssPerConn = (after.rss - after.young - (before.rss - before.young)) / conns;
    if (VERBOSE && before.heap && after.heap) {
      const per = (k) => `${k} ${((after.heap[k] - before.heap[k]) / conns).toFixed(0)}`;
      process.stderr.write(
        `  ${name}: bytes/conn: rss ${((after.rss - before.rss) / conns).toFixed(0)}, young ${((after.young - before.young) / conns).toFixed(0)}, heap ${Object.keys(
          after.heap,
        )
          .filter((k) => Math.abs(after.heap[k] - (before.heap[k] ?? 0)) >= conns * 8)
          .map(per)
          .join(', ')}\n`,
      );
    }

    let broadcastMs = Number.NaN;
    if (connected === target) {
      const times = [];
      for (let i = 0; i < BROADCASTS; i++) {
        times.push(await broadcast(server, clients));
        await sleep(200);
      }
      broadcastMs = median(times);
    }
    process.stderr.write(
      `  ${name} x${workers || 1} process: ${connected}/${target} connected (${failed} failed) in ${connectSeconds.toFixed(1)} s; server holds ${conns} (${perProcess.join(' + ')})\n`,
    );
    return {
      target,
      connected,
      conns,
      perProcess,
      rssPerConn,
      rssTotal: after.rss - after.young,
      broadcastMs,
      connectSeconds,
    };
  } finally {
    // The server goes first, so the closing side (and its TIME_WAIT) is the server's, not the
    // clients' source ports; then every client.
    await server.stop();
    for (const pid of extraPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone with the primary
      }
    }
    extraPids.clear();
    await Promise.all(clients.map((c) => c.stop()));
  }
}

// ---- the run ---------------------------------------------------------------------------------

const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
  .trim()
  .split(/\s+/)
  .map(Number);
console.error(
  `ephemeral ports ${lo}-${hi} (${hi - lo + 1} per source address); clients of at most ${PER_CLIENT.toLocaleString('en')} sockets, one loopback source address each`,
);

const rows = [];
let ab;
try {
  let single = SINGLE === 'auto' ? 'auto' : Number(SINGLE);
  // One process: ssekit first when the count is automatic, so raw holds exactly as many.
  const order = NAMES.includes('ssekit') ? ['ssekit', ...NAMES.filter((n) => n !== 'ssekit')] : NAMES;
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results = {};
    for (const name of order) {
      console.error(`one process, ${name}${ROUNDS > 1 ? `, round ${round + 1} of ${ROUNDS}` : ''}:`);
      const r = await measure(name, 0, single);
      if (single === 'auto') single = r.target;
      results[name] = r;
    }
    rounds.push(results);
  }
  for (const name of order) {
    const runs = rounds.map((results) => results[name]);
    // A copy: the medians below must not overwrite round 1's figures, which later ratios read.
    const r = { ...runs[0] };
    if (ROUNDS > 1) {
      r.rssPerConn = median(runs.map((x) => x.rssPerConn));
      r.broadcastMs = median(runs.map((x) => x.broadcastMs));
      r.connectSeconds = median(runs.map((x) => x.connectSeconds));
      r.conns = Math.min(...runs.map((x) => x.conns));
      r.connected = Math.min(...runs.map((x) => x.connected));
      r.rounds = runs.map((x) => x.rssPerConn);
      if (rounds[0].raw) r.ratio = median(rounds.map((x) => x[name].rssPerConn / x.raw.rssPerConn));
    }
    rows.push({ setup: 'one process', name, ...r });
  }
  if (NAMES.includes('ssekit') && NAMES.includes(BASELINE)) {
    ab = ratioLine(
      'one process',
      ['rssPerConn', 'broadcastMs', 'connectSeconds'].map((key) => ({
        key,
        runs: rounds.map((x) => x.ssekit[key]),
        baseRuns: rounds.map((x) => x[BASELINE][key]),
      })),
    );
  }
  if (!SKIP_CLUSTER) {
    for (const name of NAMES) {
      console.error(`cluster of ${WORKERS} workers, ${name}:`);
      rows.push({ setup: `cluster, ${WORKERS} workers`, name, ...(await measure(name, WORKERS, TOTAL)) });
    }
  }
} catch (error) {
  console.error(error);
  killAll();
  process.exit(1);
}

const KiB = (b) => (b / 1024).toFixed(2);
console.log(
  `\nIdle subscribers over loopback (node ${process.version}, open-files limit ${openFiles(process.pid).limit.toLocaleString('en')} per process, ${BROADCASTS} broadcasts)\n`,
);
console.log(
  '| setup | server | connections held | RSS KiB/conn | RSS vs raw | broadcast to all, median ms | connect s |',
);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const raw = rows.find((x) => x.setup === r.setup && x.name === 'raw');
  console.log(
    `| ${r.setup} | ${r.name} | ${r.conns.toLocaleString('en')} of ${r.target.toLocaleString('en')} | ${KiB(r.rssPerConn)} | ${raw ? `${(r.ratio ?? r.rssPerConn / raw.rssPerConn).toFixed(2)}x` : ''} | ${r.broadcastMs.toFixed(1)} | ${r.connectSeconds.toFixed(1)} |`,
  );
}
for (const r of rows) {
  if (r.rounds) console.log(`${r.name} RSS KiB/conn by round: ${r.rounds.map(KiB).join(', ')}`);
}
if (ab)
  console.log(
    `\nssekit / ${BASELINE} (${BASE_DIR}), ratio of medians [per-round range], below 1 is better:\n${ab}`,
  );
const one = rows.find((r) => r.setup === 'one process' && r.name === 'ssekit');
let ok = true;
if (one && one.target < GOAL) {
  const pass = one.connected === one.target;
  ok &&= pass;
  console.log(
    `\nOne ssekit hub process holds ${one.conns.toLocaleString('en')} of ${one.target.toLocaleString('en')} idle subscribers (below the goal of ${GOAL.toLocaleString('en')}: not checked) -> ${pass ? 'PASS' : 'FAIL'}`,
  );
} else if (one) {
  const pass = one.conns >= GOAL && one.connected === one.target;
  ok &&= pass;
  console.log(
    `\nOne ssekit hub process holds ${one.conns.toLocaleString('en')} idle subscribers (goal ${GOAL.toLocaleString('en')}+) -> ${pass ? 'PASS' : 'FAIL'}`,
  );
}
const oneRaw = rows.find((r) => r.setup === 'one process' && r.name === 'raw');
if (one && oneRaw) {
  const ratio = one.ratio ?? one.rssPerConn / oneRaw.rssPerConn;
  const pass = ratio <= RSS_BAR;
  ok &&= pass;
  console.log(
    `RSS per idle subscriber, ssekit vs raw node:http: ${ratio.toFixed(2)}x (bar ${RSS_BAR}x) -> ${pass ? 'PASS' : 'FAIL'}`,
  );
}
const many = rows.find((r) => r.setup !== 'one process' && r.name === 'ssekit');
if (many) {
  const pass = many.conns === TOTAL;
  ok &&= pass;
  console.log(
    `A cluster of ${WORKERS} ssekit workers holds ${many.conns.toLocaleString('en')} of ${TOTAL.toLocaleString('en')} -> ${pass ? 'PASS' : 'FAIL'}`,
  );
}
killAll();
process.exit(ok ? 0 : 1);
