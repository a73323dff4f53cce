// `npm run bench:stream`: one stream of N small events to a client over loopback, per
// contender: ssekit (through ssekit/node), a raw res.write loop, better-sse, hono's streamSSE.
// Each server runs in a child process; the CPU it reports (process.cpuUsage, user + system) is
// the server's alone. Rounds alternate the contenders; medians over the rounds.
//
// Options: --events N (default 100000), --rounds R (default 5), --only a,b,
//          --clients C (default 1: C concurrent streams sharing the N events)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { mailbox } from './lib/mailbox.mjs';
import { option } from './lib/options.mjs';
import { median } from './lib/stats.mjs';

const EVENTS = Number(option('--events', 100_000));
const ROUNDS = Number(option('--rounds', 5));
const WARMUP = Math.min(20_000, EVENTS);
const NAMES = option('--only', 'raw,ssekit,better-sse,hono').split(',');
const CLIENTS = Number(option('--clients', 1));
const PER_CLIENT = Math.floor(EVENTS / CLIENTS);
const serverFile = fileURLToPath(new URL('./stream-server.mjs', import.meta.url));

/** Streams one response and counts the events (blank-line terminated blocks) it carries. */
function consume(port, n) {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: `/?n=${n}`, agent: false }, (res) => {
      let blocks = 0;
      let last = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const text = last + chunk;
        let from = 0;
        for (let at = text.indexOf('\n\n', from); at !== -1; at = text.indexOf('\n\n', from)) {
          blocks++;
          from = at + 2;
        }
        last = text.slice(Math.max(from, text.length - 1));
      });
      res.on('end', () => resolve({ blocks }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function measure(name) {
  const child = fork(serverFile, [name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { next } = mailbox(child, `${serverFile} ${name}`, 300_000);
  try {
    const { port } = await next();
    await consume(port, WARMUP);
    await next();
    const started = performance.now();
    const streams = await Promise.all(Array.from({ length: CLIENTS }, () => consume(port, PER_CLIENT)));
    const ms = performance.now() - started;
    const { cpuMicros } = await next();
    // ssekit and better-sse open with a comment block; everyone else sends exactly n.
    for (const { blocks } of streams) {
      if (blocks < PER_CLIENT || blocks > PER_CLIENT + 1) {
        throw new Error(`${name}: got ${blocks} blocks, expected ${PER_CLIENT}`);
      }
    }
    const delivered = PER_CLIENT * CLIENTS;
    return { cpuPerEvent: cpuMicros / delivered, eventsPerSecond: delivered / (ms / 1000) };
  } finally {
    child.send('stop');
    await once(child, 'exit');
  }
}

const results = Object.fromEntries(NAMES.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no contender always runs first (or last) on a busy machine.
  const order = NAMES.map((_, i) => NAMES[(i + round) % NAMES.length]);
  for (const name of order) results[name].push(await measure(name));
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}

const rows = NAMES.map((name) => ({
  name,
  cpu: median(results[name].map((r) => r.cpuPerEvent)),
  rate: median(results[name].map((r) => r.eventsPerSecond)),
}));
const raw = rows.find((r) => r.name === 'raw');
const ssekit = rows.find((r) => r.name === 'ssekit');
console.log(
  `\n${(PER_CLIENT * CLIENTS).toLocaleString('en')} events, ${CLIENTS === 1 ? 'one stream' : `${CLIENTS} concurrent streams`} over loopback, median of ${ROUNDS} rounds (node ${process.version})\n`,
);
console.log('| server | CPU µs/event | events/s | CPU vs raw | CPU vs ssekit |');
console.log('|---|---:|---:|---:|---:|');
const ratio = (value, base) => (base ? `${(value / base.cpu).toFixed(2)}x` : '-');
for (const r of rows) {
  const rate = Math.round(r.rate).toLocaleString('en');
  console.log(
    `| ${r.name} | ${r.cpu.toFixed(2)} | ${rate} | ${ratio(r.cpu, raw)} | ${ratio(r.cpu, ssekit)} |`,
  );
}
if (raw && ssekit) {
  const hono = rows.find((r) => r.name === 'hono');
  console.log(
    `\nbar 1: ssekit within 1.2x of raw res.write per event: ${(ssekit.cpu / raw.cpu).toFixed(2)}x -> ${ssekit.cpu <= raw.cpu * 1.2 ? 'PASS' : 'FAIL'}`,
  );
  if (hono)
    console.log(
      `bar 2: ssekit at least 1.5x better than hono streamSSE: ${(hono.cpu / ssekit.cpu).toFixed(2)}x -> ${hono.cpu >= ssekit.cpu * 1.5 ? 'PASS' : 'FAIL'}`,
    );
}
