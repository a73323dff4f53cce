/**
 * npm run bench:parser
 *
 * ssekit's parser side by side, in one run, with eventsource-parser (its `createParser` and its
 * stream class) and @microsoft/fetch-event-source's parser, on four streams each fed in 1 KiB,
 * 16 KiB and seeded random 1-2048-byte chunks (which cut UTF-8 characters and CRLF pairs).
 * Every parser gets bytes: the string-only ones decode with a streaming TextDecoder, as their
 * users must. Prints the median of RUNS runs and the ratio to eventsource-parser (the current
 * release; 3.1.1, the release most installs still resolve to, is shown beside it).
 *
 * Two reference lines, which parse nothing, show how fast any parser of each kind could go here:
 * - "floor: decode+lines" decodes as esp's users must (a streaming TextDecoder) and makes each
 *   line one string (pieces of a line cut across chunks are joined once), and no more: no field
 *   is read and no event is built. A callback parser that decodes the same way does at least
 *   this, so on text with non-ASCII characters (rows a and b) its ratio is about the most such a
 *   parser can reach. On ASCII text (rows c and d) it is no floor for ssekit, which decodes
 *   ASCII chunks with the cheaper non-streaming call (src/protocol/decode.ts).
 * - "floor: Web Streams" is a TransformStream that enqueues the very same events, parsed before
 *   the clock starts, chunk by chunk as a parser would, fed and drained like the stream
 *   contenders. Its ratio is the most any TransformStream parser can reach on that row.
 *
 * Each contender runs in a worker thread of its own (one V8 isolate each, run one at a time), so
 * that what the JIT learns from one parser or reference cannot slow another down: in one shared
 * isolate, adding a contender moved others by up to 40%.
 *
 * eventsource-parser 4 comes from bench/node_modules, which `npm run bench:parser` fills (every
 * 4.x release says Node >= 22.12, so it is not a dev dependency: `npm install` stays clean on
 * Node 20); version 3 is the dev dependency eventsource-parser-v3.
 *
 * Options (env): RUNS (default 7), WARMUP (untimed runs first, default 4), ROWS (comma-separated
 * row names to run, e.g. "a,d").
 */

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { getLines, getMessages } from '@microsoft/fetch-event-source/lib/esm/parse.js';
import { createParser as espCreateParser } from 'eventsource-parser';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { createParser as esp3CreateParser } from 'eventsource-parser-v3';
import { createParser, EventStreamParser } from '../dist/index.js';
import { chunked, drain, source, streamA, streamB, streamC, streamD } from './lib/parser-streams.mjs';

const RUNS = Number(process.env.RUNS ?? 7);
const WARMUP = Number(process.env.WARMUP ?? 4);
const ONLY = process.env.ROWS?.split(',');
const utf8 = new TextEncoder();

// --- contenders: each returns the number of events it saw -------------------------------
function runSsekit(chunks) {
  let n = 0;
  const p = createParser({ onEvent: () => n++ }, { maxBufferSize: 128 * 1024 * 1024 });
  for (const c of chunks) p.feed(c);
  return n;
}

function runEsp(chunks) {
  let n = 0;
  const p = espCreateParser({ onEvent: () => n++ });
  const d = new TextDecoder();
  for (const c of chunks) p.feed(d.decode(c, { stream: true }));
  return n;
}

function runEsp3(chunks) {
  let n = 0;
  const p = esp3CreateParser({ onEvent: () => n++ });
  const d = new TextDecoder();
  for (const c of chunks) p.feed(d.decode(c, { stream: true }));
  return n;
}

function runFes(chunks) {
  let n = 0;
  const onChunk = getLines(
    getMessages(
      () => {},
      () => {},
      () => n++,
    ),
  );
  for (const c of chunks) onChunk(c);
  return n;
}

/** The issue's reference work: decode and split into line strings, nothing else. */
function runLinesFloor(chunks) {
  const d = new TextDecoder();
  let pieces = [];
  let line = '';
  let blank = 0; // blank lines ('' or a lone CR before the LF): one per event in these streams
  for (const c of chunks) {
    const text = d.decode(c, { stream: true });
    let pos = 0;
    let lf = text.indexOf('\n');
    while (lf !== -1) {
      if (pieces.length > 0) {
        pieces.push(text.slice(pos, lf));
        line = pieces.join('');
        pieces = [];
      } else line = text.slice(pos, lf);
      if (line.length === 0 || (line.length === 1 && line.charCodeAt(0) === 13)) blank++;
      pos = lf + 1;
      lf = text.indexOf('\n', pos);
    }
    if (pos < text.length) pieces.push(text.slice(pos));
  }
  return blank;
}

/** For the Web Streams floor: the events each chunk completes, parsed before any timing. */
const parsedByChunk = new WeakMap();
function parseByChunk(chunks) {
  const out = [];
  let current;
  const p = createParser({ onEvent: (e) => current.push(e) }, { maxBufferSize: 128 * 1024 * 1024 });
  for (const c of chunks) {
    current = [];
    p.feed(c);
    out.push(current);
  }
  parsedByChunk.set(chunks, out);
}

const runSsekitStream = (chunks) =>
  drain(source(chunks).pipeThrough(new EventStreamParser({ maxBufferSize: 128 * 1024 * 1024 })));
const runEspStream = (chunks) =>
  drain(source(chunks).pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()));

function runStreamFloor(chunks) {
  const events = parsedByChunk.get(chunks);
  let i = 0;
  const replay = new TransformStream({
    transform(_chunk, controller) {
      for (const e of events[i++]) controller.enqueue(e);
    },
  });
  return drain(source(chunks).pipeThrough(replay));
}

const CONTENDERS = [
  ['ssekit createParser', runSsekit, 'esp createParser'],
  ['esp createParser', runEsp, 'esp createParser'],
  ['esp 3.1.1 createParser', runEsp3, 'esp createParser'],
  ['fetch-event-source', runFes, 'esp createParser'],
  ['floor: decode+lines', runLinesFloor, 'esp createParser'],
  ['ssekit EventStreamParser', runSsekitStream, 'esp stream'],
  ['esp stream', runEspStream, 'esp stream'],
  ['floor: Web Streams', runStreamFloor, 'esp stream'],
];

const ROWS = [
  ['a', 'small LLM-token events', streamA],
  ['b', '64 KiB lines, non-ASCII', streamB],
  ['c', 'multi-line data, CRLF', streamC],
  ['d', 'LF, 1 in 200 CRLF', streamD],
].filter(([k]) => !ONLY || ONLY.includes(k));
const HOWS = [1024, 16 * 1024, 'random'];

/** The 64 MiB single line, in 1 KiB or 64 KiB chunks: `how` is the chunk size. */
function longLine() {
  const line = new Uint8Array(64 * 1024 * 1024 + 8).fill(0x61);
  line.set(utf8.encode('data: '), 0);
  line.set(utf8.encode('\n\n'), line.length - 2);
  return { bytes: line, events: 1 };
}

// --- worker: one contender, timed once per request -----------------------------------------
function serveContender(name) {
  const run = CONTENDERS.find(([cname]) => cname === name)[1];
  const made = new Map(); // row key -> { bytes, events }
  const cut = new Map(); // `${row}/${how}` -> chunks
  parentPort.on('message', async ({ row, how }) => {
    if (!made.has(row)) made.set(row, row === 'line' ? longLine() : ROWS.find(([k]) => k === row)[2]());
    const { events, bytes } = made.get(row);
    const key = `${row}/${how}`;
    if (!cut.has(key)) {
      const chunks = chunked(bytes, how);
      if (run === runStreamFloor) parseByChunk(chunks);
      cut.set(key, chunks);
    }
    const chunks = cut.get(key);
    const t0 = performance.now();
    const n = await run(chunks);
    const ms = performance.now() - t0;
    if (n !== events) throw new Error(`${name}: saw ${n} events, expected ${events}`);
    parentPort.postMessage(ms);
  });
}

// --- main thread: rounds over the workers ---------------------------------------------------
function startWorker(name) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { contender: name } });
  worker.on('error', (error) => {
    console.error(error);
    process.exit(1);
  });
  return {
    time: (row, how) =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage({ row, how });
      }),
    stop: () => worker.terminate(),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Times every contender once per round, RUNS rounds after WARMUP untimed ones (the JIT needs
 * three or four runs to settle), one worker at a time, and returns each one's median: interleaving spreads the noise of a shared machine
 * over all contenders alike.
 */
async function race(workers, row, how) {
  const times = workers.map(() => []);
  for (let r = 0; r < WARMUP; r++) for (const w of workers) await w.time(row, how);
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < workers.length; i++) times[i].push(await workers[i].time(row, how));
  }
  return times.map(median);
}

function pad(s, n) {
  return String(s).padEnd(n);
}

async function main() {
  console.log(
    `node ${process.version}, median of ${RUNS} runs, each contender in its own worker; ratio = speed / eventsource-parser's (same kind)\n`,
  );
  console.log(`${pad('row', 34)}${pad('parser', 26)}${pad('MB/s', 9)}${pad('events/s', 12)}ratio`);
  const workers = CONTENDERS.map(([name]) => startWorker(name));
  for (const [key, label, make] of ROWS) {
    const { bytes, events } = make();
    for (const how of HOWS) {
      const name = `${key}) ${label}, ${how === 'random' ? '1-2048 B' : `${how / 1024} KiB`}`;
      const ms = await race(workers, key, how);
      const medians = Object.fromEntries(CONTENDERS.map(([cname], i) => [cname, ms[i]]));
      for (const [cname, , base] of CONTENDERS) {
        const ms = medians[cname];
        const mbs = bytes.length / 1e6 / (ms / 1000);
        const eps = events / (ms / 1000);
        const ratio = medians[base] / ms;
        console.log(
          `${pad(cname === CONTENDERS[0][0] ? name : '', 34)}${pad(cname, 26)}${pad(mbs.toFixed(0), 9)}${pad(Math.round(eps).toLocaleString('en'), 12)}${ratio.toFixed(2)}x`,
        );
      }
    }
  }
  await Promise.all(workers.map((w) => w.stop()));

  // A 64 MiB single line: 1 KiB chunks must cost at most 2x the same bytes in 64 KiB chunks.
  const line = startWorker(CONTENDERS[0][0]);
  const times = [[], []];
  for (let r = 0; r < RUNS; r++) {
    times[0].push(await line.time('line', 1024));
    times[1].push(await line.time('line', 64 * 1024));
  }
  await line.stop();
  const [small, large] = times.map(median);
  console.log(
    `\n64 MiB single line, ssekit: 1 KiB chunks ${small.toFixed(0)} ms, 64 KiB chunks ${large.toFixed(0)} ms, ratio ${(small / large).toFixed(2)}x (bar: <= 2x)`,
  );
}

if (isMainThread) await main();
else serveContender(workerData.contender);
