// `npm run bench:fanout`: one event to N subscribers, for N = 100, 1,000 and 5,000; the ssekit
// hub against a raw res.write loop and better-sse's channel, side by side in one run.
// Servers run in a child process (bench/fanout-server.mjs: its CPU and RSS are the server's
// alone), subscribers in another (bench/fanout-client.mjs: raw TCP clients), all on 127.0.0.1.
//
// (i)  fixed rate: 20,000 deliveries/s (20000/N events/s) for a few seconds: server CPU µs per
//      delivered event, latency p50/p99 (publish time carried in each event), RSS per connection.
// (ii) flood: bursts of events per tick, as fast as possible, until every subscriber has them
//      all: deliveries/s and server CPU µs per delivery.
// Rounds rotate the contenders; the table shows medians.
//
// Options: --n 100,1000,5000 --rounds 3 --ms 4000 --only raw,ssekit,better-sse
//          --baseline DIR: adds the contender ssekit-base, the hub as built in DIR (a dist/ from
//          before a change), rotated with the others in the same rounds; prints a line of
//          ssekit / ssekit-base ratios per N (before/after in one run)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BASELINE, baselineDir, childEnv, ratioLine } from './lib/dist.mjs';
import { mailbox } from './lib/mailbox.mjs';
import { option } from './lib/options.mjs';
import { median } from './lib/stats.mjs';

const SIZES = option('--n', '100,1000,5000').split(',').map(Number);
const ROUNDS = Number(option('--rounds', 3));
const WINDOW_MS = Number(option('--ms', 4000));
const BASE_DIR = baselineDir();
const NAMES = option('--only', `raw,ssekit,better-sse${BASE_DIR ? `,${BASELINE}` : ''}`).split(',');
const RATE = 20_000; // deliveries per second in (i)
const FLOOD_DELIVERIES = 400_000; // per flood run, split into events of N deliveries
const BURST = 10; // events per tick in (ii)
// Below this many subscribers, the RSS the second half of them adds (a few MiB at most) is
// within what one GC moves RSS by: the figure is printed but not held to the bar.
const RSS_MIN_N = 5000;
// RSS per connection excludes V8's young generation in every contender (see fanout-server.mjs).
const serverFile = fileURLToPath(new URL('./fanout-server.mjs', import.meta.url));
const clientFile = fileURLToPath(new URL('./fanout-client.mjs', import.meta.url));

function child(file, argv, execArgv = []) {
  const proc = fork(file, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
    env: childEnv(BASE_DIR),
  });
  const { next, ask } = mailbox(proc, file, 120_000);
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill();
      await once(proc, 'exit');
    }
  };
  return { proc, next, ask, stop };
}

async function measure(name, n) {
  const server = child(serverFile, [name], ['--expose-gc']);
  let client;
  try {
    const { port } = await server.next();
    client = child(clientFile, [String(port), String(n)]);
    await client.next();
    // RSS per connection, marginal: (RSS with N idle subscribers - RSS with N/2), after full
    // GCs, both minus V8's young generation (see fanout-server.mjs), divided by N/2. The first
    // half carries what a server allocates once (code, its first subscriber's structures), which
    // at N = 100 would otherwise outweigh the connections themselves.
    const half = Math.floor(n / 2);
    const first = await client.ask({ cmd: 'connect', count: half });
    const before = await server.ask({ cmd: 'rss' });
    const second = await client.ask({ cmd: 'connect', count: n - half });
    const connected = first.connected + second.connected;
    if (connected !== n)
      throw new Error(
        `${name}: ${connected} of ${n} subscribers connected (${first.failed + second.failed} failed)`,
      );
    const after = await server.ask({ cmd: 'rss' });
    const rssPerConn = (after.rss - after.young - (before.rss - before.young)) / (n - half);

    // (i) fixed rate: a short warm-up, then the measured window.
    const rate = RATE / n;
    await server.ask({ cmd: 'rate', rate, ms: 1000 });
    await client.ask({ cmd: 'reset', latency: true });
    const fixed = await server.ask({ cmd: 'rate', rate, ms: WINDOW_MS });
    await client.ask({ cmd: 'waitFor', events: fixed.events * n }, 30_000);
    const lat = await client.ask({ cmd: 'report' });

    // (ii) flood.
    const events = Math.max(BURST, Math.round(FLOOD_DELIVERIES / n));
    await client.ask({ cmd: 'reset', latency: false });
    const flood = await server.ask({ cmd: 'flood', events, burst: BURST });
    const { at } = await client.ask({ cmd: 'waitFor', events: events * n }, 120_000);
    const { cpu } = await server.ask({ cmd: 'cpu' });
    const seconds = (at - flood.start) / 1000;

    return {
      cpuFixed: fixed.cpu / (fixed.events * n),
      p50: lat.p50,
      p99: lat.p99,
      rssPerConn,
      floodRate: (events * n) / seconds,
      cpuFlood: (cpu - flood.cpu) / (events * n),
    };
  } finally {
    await client?.stop();
    server.proc.send('stop');
    await server.stop();
  }
}

const results = {};
for (const n of SIZES) {
  results[n] = Object.fromEntries(NAMES.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = NAMES.map((_, i) => NAMES[(i + round) % NAMES.length]);
    for (const name of order) results[n][name].push(await measure(name, n));
    process.stderr.write(`N=${n}: round ${round + 1}/${ROUNDS} done\n`);
  }
}

const fmt = (v, d = 2) => v.toFixed(d);
const keys = ['cpuFixed', 'p50', 'p99', 'rssPerConn', 'floodRate', 'cpuFlood'];
console.log(
  `\nFan-out over loopback, median of ${ROUNDS} rounds (node ${process.version}, ${RATE.toLocaleString('en')} deliveries/s fixed, floods of ${FLOOD_DELIVERIES.toLocaleString('en')} deliveries in bursts of ${BURST} events per tick)\n`,
);
console.log(
  '| N | server | (i) CPU µs/delivery | p50 ms | p99 ms | RSS KiB/conn | (ii) deliveries/s | (ii) CPU µs/delivery |',
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
const bars = [];
const ab = [];
for (const n of SIZES) {
  const row = {};
  for (const name of NAMES) {
    row[name] = Object.fromEntries(keys.map((k) => [k, median(results[n][name].map((r) => r[k]))]));
    const r = row[name];
    console.log(
      `| ${n.toLocaleString('en')} | ${name} | ${fmt(r.cpuFixed)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.rssPerConn / 1024, 1)} | ${Math.round(r.floodRate).toLocaleString('en')} | ${fmt(r.cpuFlood)} |`,
    );
  }
  if (results[n].ssekit && results[n][BASELINE]) {
    ab.push(
      ratioLine(
        `N=${n}`,
        keys.map((key) => ({
          key,
          runs: results[n].ssekit.map((r) => r[key]),
          baseRuns: results[n][BASELINE].map((r) => r[key]),
        })),
      ),
    );
  }
  const { raw, ssekit } = row;
  const bsse = row['better-sse'];
  if (raw && ssekit && bsse) {
    const check = (label, value, ok) => bars.push(`N=${n} ${label}: ${value} -> ${ok ? 'PASS' : 'FAIL'}`);
    check(
      '(i) CPU/delivery vs raw (<= 1.00x)',
      `${fmt(ssekit.cpuFixed / raw.cpuFixed)}x`,
      ssekit.cpuFixed <= raw.cpuFixed,
    );
    check(
      '(i) CPU/delivery vs better-sse (<= 0.75x)',
      `${fmt(ssekit.cpuFixed / bsse.cpuFixed)}x`,
      ssekit.cpuFixed <= 0.75 * bsse.cpuFixed,
    );
    check(
      '(ii) deliveries/s vs raw (>= 1.5x)',
      `${fmt(ssekit.floodRate / raw.floodRate)}x`,
      ssekit.floodRate >= 1.5 * raw.floodRate,
    );
    check(
      '(ii) deliveries/s vs better-sse (>= 2x)',
      `${fmt(ssekit.floodRate / bsse.floodRate)}x`,
      ssekit.floodRate >= 2 * bsse.floodRate,
    );
    if (n >= RSS_MIN_N) {
      check(
        'RSS/conn vs raw (<= 1.25x)',
        `${fmt(ssekit.rssPerConn / raw.rssPerConn)}x`,
        ssekit.rssPerConn <= 1.25 * raw.rssPerConn,
      );
    } else {
      bars.push(
        `N=${n} RSS/conn vs raw: not judged (${n / 2} connections move RSS by less than a GC does; ` +
          `see the N=${RSS_MIN_N.toLocaleString('en')} row and npm run bench:connections)`,
      );
    }
  }
}
console.log(`\n${bars.join('\n')}`);
if (ab.length > 0) {
  console.log(
    `\nssekit / ${BASELINE} (${BASE_DIR}), ratio of medians [per-round range]; below 1 is better except floodRate:\n${ab.join('\n')}`,
  );
}
