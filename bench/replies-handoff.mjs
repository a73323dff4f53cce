// `npm run bench:handoff`: how long a client of a resumable reply waits at each `maxDuration`
// hand-off. A replies server (ssekit/replies on node:http, its own process) runs replies of
// `--duration-ms` (20 s: a token every `--interval-ms`, 50 ms) with `maxDuration`
// `--max-duration-ms` (5 s): each response ends cleanly with `retry` and the last id, and the
// client, ssekit/client's connect() with its default reconnection, comes back with
// Last-Event-ID. `--replies` replies (6) run at once, each read by one client from its start.
//
//   gap        the stream's end (connect() schedules the reconnection) to the next response's
//              200 (onOpen): what the hand-off costs. Mostly the client's wait: the server's
//              `retry` (100 ms by default), exactly (no jitter after a stream that was open)
//   beyond     the gap less the wait connect() scheduled (onReconnect's delay): the request, the
//              reply's lookup and its replay, the first bytes back
//   token gap  the last token before a hand-off to the first after it, less the median gap
//              between two tokens of that reply: the delay a reader sees in the text
//
// Per reply: p50 and p95 of its hand-offs; then the median of those over the replies, and the
// p95 over every hand-off, against the bar (p95 gap < 300 ms). Every reply is also checked:
// every token once, in order, one `end`, and the client stopped by the 204 after it.
//
// Options: --replies 6 --duration-ms 20000 --max-duration-ms 5000 --interval-ms 50
//          --quick (2 s replies, 500 ms responses: the same ratio, for a smoke run)
// Bounded: the whole run has a deadline (3 durations + 30 s); the server is killed on the way out.
import { fork } from 'node:child_process';
import { args, option } from './lib/options.mjs';

const quick = args.includes('--quick');
const REPLIES = Number(option('--replies', 6));
const DURATION = Number(option('--duration-ms', quick ? 2000 : 20_000));
const MAX_DURATION = Number(option('--max-duration-ms', quick ? 500 : 5000));
const INTERVAL = Number(option('--interval-ms', 50));
const BAR_P95_MS = 300;

if (process.argv.includes('--server')) await server();
else await main();

/** The server process: POST /chat starts a reply of `count` tokens, `intervalMs` apart. */
async function server() {
  const { createServer } = await import('node:http');
  const { createRequestListener } = await import('../dist/node.js');
  const { createReplies } = await import('../dist/replies.js');
  const replies = createReplies({ maxDuration: Number(process.env.MAX_DURATION), heartbeat: false });
  const listener = createRequestListener(async (request) => {
    if (request.method === 'POST') {
      const { count, intervalMs } = await request.json();
      return replies.start(request, async ({ send }) => {
        for (let i = 1; i <= count; i++) {
          await send(`t${i}`);
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
      });
    }
    return replies.handler(request);
  });
  const http = createServer(listener);
  http.listen(0, '127.0.0.1', () => process.send({ port: http.address().port }));
  process.on('disconnect', () => process.exit(0));
}

async function main() {
  const { connect } = await import('../dist/client.js');
  const child = fork(new URL(import.meta.url).pathname, ['--server'], {
    env: { ...process.env, MAX_DURATION: String(MAX_DURATION) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const deadline = setTimeout(
    () => {
      console.error('bench:handoff: deadline passed');
      child.kill('SIGKILL');
      process.exit(1);
    },
    3 * DURATION + 30_000,
  );
  try {
    const port = await new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const count = Math.round(DURATION / INTERVAL);
    console.log(
      `bench:handoff: ${REPLIES} replies at once, each ${count} tokens ${INTERVAL} ms apart (${DURATION} ms), maxDuration ${MAX_DURATION}`,
    );
    const results = await Promise.all(Array.from({ length: REPLIES }, () => oneReply(connect, base, count)));

    const rows = results.map((r, i) => ({
      reply: i + 1,
      handoffs: r.gaps.length,
      'gap p50 ms': round(percentile(r.gaps, 0.5)),
      'gap p95 ms': round(percentile(r.gaps, 0.95)),
      'beyond p95 ms': round(percentile(r.beyond, 0.95)),
      'token gap p50 ms': round(percentile(r.tokenGaps, 0.5)),
      'token gap max ms': round(Math.max(...r.tokenGaps)),
      'whole, once': r.whole ? 'yes' : 'NO',
    }));
    console.table(rows);
    const all = results.flatMap((r) => r.gaps);
    const p95 = percentile(all, 0.95);
    console.log(
      `median over replies: gap p50 ${round(median(rows.map((r) => r['gap p50 ms'])))} ms, ` +
        `gap p95 ${round(median(rows.map((r) => r['gap p95 ms'])))} ms, ` +
        `beyond the wait p95 ${round(median(rows.map((r) => r['beyond p95 ms'])))} ms, ` +
        `token gap p50 ${round(median(rows.map((r) => r['token gap p50 ms'])))} ms`,
    );
    console.log(
      `every hand-off (${all.length}): gap p50 ${round(percentile(all, 0.5))} ms, p95 ${round(p95)} ms ` +
        `(bar: p95 < ${BAR_P95_MS} ms: ${p95 < BAR_P95_MS ? 'met' : 'NOT met'})`,
    );
    if (!results.every((r) => r.whole)) {
      console.error('bench:handoff: a reply lost or repeated tokens');
      process.exitCode = 1;
    }
  } finally {
    clearTimeout(deadline);
    child.disconnect();
  }
}

/** Starts one reply and reads it to its end with connect(); the hand-offs it saw. */
async function oneReply(connect, base, count) {
  const started = await fetch(`${base}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count, intervalMs: INTERVAL }),
  });
  const location = new URL(started.headers.get('content-location'), base).href;
  await started.body?.cancel();
  const gaps = [];
  const beyond = [];
  let waited = 0;
  const tokenTimes = []; // [arrival, index of the response it came in]
  let endedAt;
  let response = -1;
  const data = [];
  let ends = 0;
  const connection = connect(location, {
    onOpen() {
      if (endedAt !== undefined) {
        gaps.push(performance.now() - endedAt);
        beyond.push(performance.now() - endedAt - waited);
      }
      endedAt = undefined;
      response++;
    },
    onReconnect(delay) {
      endedAt = performance.now();
      waited = delay;
    },
    onEvent(event) {
      if (event.event === 'end') ends++;
      else {
        data.push(event.data);
        tokenTimes.push([performance.now(), response]);
      }
    },
  });
  await connection.closed;
  const steps = [];
  const tokenGaps = [];
  for (let i = 1; i < tokenTimes.length; i++) {
    const gap = tokenTimes[i][0] - tokenTimes[i - 1][0];
    if (tokenTimes[i][1] === tokenTimes[i - 1][1]) steps.push(gap);
    else tokenGaps.push(gap);
  }
  const usual = median(steps);
  const whole = ends === 1 && data.length === count && data.every((d, i) => d === `t${i + 1}`);
  return { gaps, beyond, tokenGaps: tokenGaps.map((g) => g - usual), whole };
}

function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

function median(values) {
  return percentile(values, 0.5);
}

function round(value) {
  return Math.round(value * 10) / 10;
}
