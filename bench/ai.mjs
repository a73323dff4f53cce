// `npm run bench:ai` (issue #17): what serving the AI SDK's UI message stream on resumable
// replies costs, against the AI SDK's own, side by side in one run.
//
// Contenders (bench/replies-server.mjs, each its own OS process; readers in another process,
// bench/replies-client.mjs, raw TCP, all on 127.0.0.1). Every one serves the same chunks: for N
// tokens, `start`, `text-start`, N `text-delta`s, `text-end`, `finish`, from one ReadableStream
// fed by the server's shared upstream ticker (bench/replies.mjs says how it paces):
//   ai-sdk            createUIMessageStreamResponse (`ai` 6): the tokens go to the socket, nothing kept
//   ai-sdk-resumable  the same plus the AI SDK's resume recipe: consumeSseStream -> resumable-stream
//                     (createNewResumableStream, ioredis) on the bench's Redis
//   chat-memory       ssekit/ai-sdk createChatReplies, in-memory broker
//   chat-redis        createChatReplies on createRedisBroker, the same Redis
// CPU per token: R replies (200) of N tokens (100), one reader each, nobody resumes; (1a) one
// token per upstream read at 50 tokens/s a reply, (1b) 10 tokens per read at 200 tokens/s. Server
// process CPU (user + system) from the first POST to the last token read, divided by tokens.
// Bar (the issue's): 1.1x the CPU per token of the AI SDK's own, shown for chat-memory / ai-sdk
// and for chat-redis / ai-sdk-resumable (each resumable or not alike). Rounds rotate the
// contenders; the tables show medians. Every reader must get every token once or the run fails.
//
// Options: --rounds 3 --replies 200 --tokens 100 --rate 50 --burst 10 --burst-rate 200
//   --only ai-sdk,chat-memory,ai-sdk-resumable,chat-redis
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { supervise } from './lib/children.mjs';
import { childEnv } from './lib/dist.mjs';
import { mailbox } from './lib/mailbox.mjs';
import { option } from './lib/options.mjs';
import { startRedis } from './lib/redis.mjs';
import { median } from './lib/stats.mjs';

const ROUNDS = Number(option('--rounds', 3));
const REPLIES = Number(option('--replies', 200));
const TOKENS = Number(option('--tokens', 100));
const RATE = Number(option('--rate', 50));
const BURST = Number(option('--burst', 10));
const BURST_RATE = Number(option('--burst-rate', 200));
const NAMES = option('--only', 'ai-sdk,chat-memory,ai-sdk-resumable,chat-redis').split(',');
const TICK_MS = 5;
const BAR = 1.1;
const PAIRS = [
  ['chat-memory', 'ai-sdk'],
  ['chat-redis', 'ai-sdk-resumable'],
  ['chat-redis', 'ai-sdk'],
];
const file = (name) => fileURLToPath(new URL(name, import.meta.url));
const procs = supervise('bench:ai', 1_800_000);

function child(path, argv, env) {
  const proc = procs.fork(path, argv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: childEnv(undefined, env),
  });
  return { proc, ...mailbox(proc, `${path} ${argv.join(' ')}`, 60_000) };
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function main() {
  const loadBefore = loadavg()[0];
  const redis = await startRedis((proc) => procs.children.push(proc));
  const prefix = `ssekit-bench-ai:${process.pid}:`;
  const servers = {};
  for (const name of NAMES) {
    const server = child(file('./replies-server.mjs'), [name], {
      REDIS_URL: redis.url,
      SSEKIT_PREFIX: `${prefix}${name}:`,
      RS_PREFIX: `${prefix}rs`,
    });
    servers[name] = { ...server, port: (await server.next()).port };
  }
  const client = child(file('./replies-client.mjs'), [], {});
  await client.next();

  async function run(name, { replies, tokens, rate, burst = 1 }) {
    const server = servers[name];
    const periodTicks = Math.max(1, Math.round((1000 * burst) / rate / TICK_MS));
    await server.ask({ cmd: 'pace', periodTicks, burst });
    const durationMs = (tokens / rate) * 1000;
    const c0 = await server.ask({ cmd: 'cpu' });
    const result = await client.ask(
      {
        cmd: 'run',
        port: server.port,
        replies,
        tokens,
        startSpreadMs: Math.min(500, durationMs / 4),
        timeoutMs: durationMs + 30_000,
        resume: null,
      },
      durationMs + 60_000,
    );
    const c1 = await server.ask({ cmd: 'cpu' });
    return { ...result, cpuPerToken: (c1.cpu - c0.cpu) / (replies * tokens) };
  }

  const part1 = { replies: REPLIES, tokens: TOKENS, rate: RATE };
  const part1b = { ...part1, rate: BURST_RATE, burst: BURST };
  for (const name of NAMES) await run(name, { replies: 50, tokens: 40, rate: 200 }); // warm-up

  const results = [];
  const problems = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = NAMES.map((_, i) => NAMES[(i + round) % NAMES.length]);
    for (const name of order) {
      for (const [part, shape] of [
        ['1a', part1],
        ['1b', part1b],
      ]) {
        const r = await run(name, shape);
        results.push({ part, name, round, ...r });
        if (r.failed > 0 || r.missing > 0 || r.repeated > 0) {
          problems.push(
            `${part} ${name} round ${round + 1}: ${r.failed} failed, ${r.missing} missing, ${r.repeated} repeated`,
          );
        }
        console.error(
          `round ${round + 1} (${part}) ${name}: ${f(r.cpuPerToken)} µs/token, ${r.done} done, ${r.failed} failed`,
        );
      }
    }
  }
  const med = (part, name) =>
    median(results.filter((r) => r.part === part && r.name === name).map((r) => r.cpuPerToken));

  console.log(
    `\nbench:ai (node ${process.version}; ${availableParallelism()} CPUs, 1-min load ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after; ` +
      `Redis ${redis.own ? 'own redis-server' : `${redis.url} (shared)`}; median of ${ROUNDS} rounds)`,
  );
  console.log(
    `\nServer CPU per token: ${REPLIES} replies x ${TOKENS} tokens as UI message chunks, one reader each, nobody resumes; ` +
      `(1a) one token per upstream read, ${RATE} tokens/s a reply; (1b) ${BURST} tokens per read, ${BURST_RATE} tokens/s a reply\n`,
  );
  console.log('| server | (1a) CPU µs/token | (1b) CPU µs/token |');
  console.log('|---|---:|---:|');
  for (const name of NAMES) console.log(`| ${name} | ${f(med('1a', name))} | ${f(med('1b', name))} |`);
  const lines = [];
  for (const [ours, theirs] of PAIRS) {
    if (!NAMES.includes(ours) || !NAMES.includes(theirs)) continue;
    for (const part of ['1a', '1b']) {
      const ratio = med(part, ours) / med(part, theirs);
      lines.push(
        `${ratio <= BAR ? 'PASS' : 'FAIL'}: (${part}) CPU per token, ${ours} / ${theirs}: ${f(ratio)}x (bar ${BAR}x)`,
      );
    }
  }
  lines.push(
    problems.length > 0
      ? `FAIL: readers did not get every token once:\n  ${problems.join('\n  ')}`
      : 'PASS: every reader got every token once',
  );
  console.log(`\n${lines.join('\n')}`);
  return problems.length === 0;
}

try {
  const ok = await main();
  for (const c of procs.children)
    if (c.exitCode === null && c.spawnfile !== 'redis-server') c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  process.exit(ok ? 0 : 1);
} catch (error) {
  console.error(error);
  process.exit(1);
}
