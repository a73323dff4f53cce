/**
 * npm run bench:parser
 *
 * ssekit's parser side by side, in one run, with eventsource-parser (its `createParser` and its
 * stream class) and @microsoft/fetch-event-source's parser, on eleven streams (see
 * bench/lib/parser-streams.mjs: event sizes from LLM tokens to 64 KiB, LF, CRLF and CR, ASCII and
 * multi-byte UTF-8, multi-line data, heartbeats, id/event fields) each fed in 1 KiB, 16 KiB and
 * seeded random 1-2048-byte chunks (which cut UTF-8 characters and CRLF pairs). Every parser
 * gets bytes: the string-only ones decode with a streaming TextDecoder, as their users must.
 * Prints one line per row and chunking: eventsource-parser 4's and ssekit's MB/s, then each
 * contender's speed over eventsource-parser's (the median of RUNS rounds; 3.1.1, the release
 * most installs still resolve to, is shown beside it), and the lowest ratio of each at the end.
 *
 * Reference lines, which parse nothing, show how fast any parser of each kind could go here:
 * - "floor: decode+lines" decodes as esp's users must (a streaming TextDecoder) and makes each
 *   line one string (pieces of a line cut across chunks are joined once), and no more: no field
 *   is read and no event is built. A callback parser that decodes the same way does at least
 *   this, so on text with non-ASCII characters (rows a, b, g, j, k) its ratio is about the most
 *   such a parser can reach. On ASCII text (the other rows) it is no floor for ssekit, which
 *   decodes ASCII chunks with the cheaper non-streaming call (src/protocol/decode.ts).
 * - "floor: bytes+lines" (run only when CONTENDERS names "bytes") is that reference for a
 *   parser that would keep the bytes of a line cut across chunks and decode each line with one
 *   call: it searches each chunk's bytes for LF and for CR (Uint8Array indexOf), copies an
 *   unfinished line's bytes into one buffer, and decodes each line once. On row b (64 KiB lines
 *   in 1 KiB chunks; 6 runs, CLOCK=cpu RUNS=11, Node 20) it measured 0.88-1.01x
 *   eventsource-parser (median 0.91x) where "floor: decode+lines" measured 0.98-1.13x (median
 *   1.06x), below it in every run; with BYTES_ONE_END=1 (one search a chunk, as the string floor
 *   does) 0.99-1.21x in 3 runs, level with the string floor.
 *   Decoding a line in one call and joining nothing saves about what one more search costs:
 *   Uint8Array indexOf scans at a few GB/s, String indexOf with memchr several times faster,
 *   and the streaming decoder costs about the same per byte in small calls as in large ones
 *   (callgrind: 251M instructions for row b in 1 KiB calls, 250M in 64 KiB calls). Row b's CPU
 *   time goes mostly to decoding and to the kernel: each 64 KiB line of two-byte text is a new
 *   128 KiB string, which V8 puts on pages of its own (about 34 page faults a line, as many for
 *   every contender and reference).
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
 * row names to run, e.g. "a,d"), CHUNKS (e.g. "1024,random"), CONTENDERS (short names as in the
 * table, plus "ssekit", "esp" and "bytes", e.g. "ssekit,esp,floor"), CLOCK=cpu (CPU time, not
 * wall time: steadier on a shared machine), LONG_LINE=0 (skip the 64 MiB line), BYTES_ONE_END=1
 * (see "floor: bytes+lines").
 */

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { getLines, getMessages } from '@microsoft/fetch-event-source/lib/esm/parse.js';
import { createParser as espCreateParser } from 'eventsource-parser';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { createParser as esp3CreateParser } from 'eventsource-parser-v3';
import { createParser, EventStreamParser } from '../dist/index.js';
import { chunked, drain, source, streams } from './lib/parser-streams.mjs';

const { a: streamA, b: streamB, c: streamC, d: streamD, e: streamE, f: streamF, g: streamG } = streams;
const { h: streamH, i: streamI, j: streamJ, k: streamK } = streams;

const RUNS = Number(process.env.RUNS ?? 7);
const WARMUP = Number(process.env.WARMUP ?? 4);
const ONLY = process.env.ROWS?.split(',');
const ONLY_CONTENDERS = process.env.CONTENDERS?.split(',');
// CLOCK=cpu times the CPU the process spends (only the timed worker runs meanwhile) instead of
// the wall clock: steadier on a machine shared with other work, where waiting for a core is
// counted in wall time.
const CPU_CLOCK = process.env.CLOCK === 'cpu';
const cpuMs = ({ user, system }) => (user + system) / 1000;
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

/**
 * The issue's reference work: decode and split into line strings, nothing else. Lines end at
 * LF, or at CR in a stream that has no LF (row i); a blank line ('', or a lone CR before an LF)
 * ends each event in these streams.
 */
function runLinesFloor(chunks) {
  const d = new TextDecoder();
  let pieces = [];
  let line = '';
  let blank = 0;
  let eol;
  for (const c of chunks) {
    const text = d.decode(c, { stream: true });
    eol ??= text.includes('\n') ? '\n' : text.includes('\r') ? '\r' : undefined;
    if (eol === undefined) {
      pieces.push(text);
      continue;
    }
    let pos = 0;
    let lf = text.indexOf(eol);
    while (lf !== -1) {
      if (pieces.length > 0) {
        pieces.push(text.slice(pos, lf));
        line = pieces.join('');
        pieces = [];
      } else line = text.slice(pos, lf);
      if (line.length === 0 || (line.length === 1 && line.charCodeAt(0) === 13)) blank++;
      pos = lf + 1;
      lf = text.indexOf(eol, pos);
    }
    if (pos < text.length) pieces.push(text.slice(pos));
  }
  return blank;
}

/**
 * "floor: bytes+lines": as runLinesFloor, but the bytes of a line cut across chunks are kept (in
 * one buffer that grows by doubling) and each line is decoded with one call. A parser must find
 * both LF and CR: each chunk is also searched for the other line end (BYTES_ONE_END=1: not).
 */
const BOTH_ENDS = process.env.BYTES_ONE_END !== '1';
function runBytesFloor(chunks) {
  const d = new TextDecoder();
  let buf = new Uint8Array(1024);
  let held = 0;
  let blank = 0;
  let eol;
  const keep = (bytes) => {
    if (held + bytes.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, held + bytes.length));
      grown.set(buf.subarray(0, held));
      buf = grown;
    }
    buf.set(bytes, held);
    held += bytes.length;
  };
  let other = 0; // positions of the other line end, found and not used
  for (const c of chunks) {
    eol ??= c.includes(10) ? 10 : c.includes(13) ? 13 : undefined;
    if (eol === undefined) {
      keep(c);
      continue;
    }
    if (BOTH_ENDS) other += c.indexOf(eol === 10 ? 13 : 10);
    let pos = 0;
    let lf = c.indexOf(eol);
    while (lf !== -1) {
      let line;
      if (held > 0) {
        keep(c.subarray(pos, lf));
        line = d.decode(buf.subarray(0, held), { stream: true });
        held = 0;
      } else line = d.decode(c.subarray(pos, lf), { stream: true });
      if (line.length === 0 || (line.length === 1 && line.charCodeAt(0) === 13)) blank++;
      pos = lf + 1;
      lf = c.indexOf(eol, pos);
    }
    if (pos < c.length) keep(c.subarray(pos));
  }
  // Never true (each search gives -1 at least): the other searches' results stay in use.
  return other < -chunks.length ? -1 : blank;
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

const ALL_CONTENDERS = [
  ['ssekit createParser', runSsekit, 'esp createParser', 'ssekit'],
  ['esp createParser', runEsp, 'esp createParser', 'esp'],
  ['floor: decode+lines', runLinesFloor, 'esp createParser', 'floor'],
  ['floor: bytes+lines', runBytesFloor, 'esp createParser', 'bytes'],
  ['esp 3.1.1 createParser', runEsp3, 'esp createParser', 'esp3'],
  ['fetch-event-source', runFes, 'esp createParser', 'fes'],
  ['ssekit EventStreamParser', runSsekitStream, 'esp stream', 'sse strm'],
  ['esp stream', runEspStream, 'esp stream', 'esp strm'],
  ['floor: Web Streams', runStreamFloor, 'esp stream', 'strm floor'],
];
// "floor: bytes+lines" runs only when named: it documents a design that was measured and left.
const CONTENDERS = ALL_CONTENDERS.filter(([, , , short]) =>
  ONLY_CONTENDERS ? ONLY_CONTENDERS.includes(short) : short !== 'bytes',
);

const ROWS = [
  ['a', 'LLM tokens, event+data, LF, UTF-8', streamA],
  ['b', '64 KiB lines, LF, UTF-8', streamB],
  ['c', '8 data lines+id+event, CRLF', streamC],
  ['d', '~50 B id+data, LF, 1/200 CRLF', streamD],
  ['e', 'LLM tokens, data only, CRLF', streamE],
  ['f', '~100 B id+event+data, LF', streamF],
  ['g', '~1 KiB CJK data+id, LF', streamG],
  ['h', '16 KiB JSON data+id, CRLF', streamH],
  ['i', '~100 B id+event+data, CR', streamI],
  ['j', '~1 KiB 10 lines Greek, comments, LF', streamJ],
  ['k', '16 KiB 16 lines UTF-8 mix, CRLF', streamK],
].filter(([k]) => !ONLY || ONLY.includes(k));
const HOWS = (process.env.CHUNKS?.split(',') ?? ['1024', '16384', 'random']).map((h) =>
  h === 'random' ? h : Number(h),
);

/** The 64 MiB single line, in 1 KiB or 64 KiB chunks: `how` is the chunk size. */
function longLine() {
  const line = new Uint8Array(64 * 1024 * 1024 + 8).fill(0x61);
  line.set(utf8.encode('data: '), 0);
  line.set(utf8.encode('\n\n'), line.length - 2);
  return { bytes: line, events: 1 };
}

// --- worker: one contender, timed once per request -----------------------------------------
function serveContender(name) {
  const run = ALL_CONTENDERS.find(([cname]) => cname === name)[1];
  const made = new Map(); // row key -> { bytes, events }
  const cut = new Map(); // `${row}/${how}` -> chunks
  parentPort.on('message', async ({ row, how }) => {
    if (!made.has(row)) made.set(row, row === 'line' ? longLine() : ROWS.find(([k]) => k === row)[2]());
    const { events, bytes, blocks } = made.get(row);
    const key = `${row}/${how}`;
    if (!cut.has(key)) {
      const chunks = chunked(bytes, how);
      if (run === runStreamFloor) parseByChunk(chunks);
      cut.set(key, chunks);
    }
    const chunks = cut.get(key);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const n = await run(chunks);
    const ms = CPU_CLOCK ? cpuMs(process.cpuUsage(c0)) : performance.now() - t0;
    // The floor counts blank lines, and fetch-event-source calls back for every one of them (a
    // heartbeat's block too): row j has more blocks than events.
    const expected =
      run === runLinesFloor || run === runBytesFloor || run === runFes ? (blocks ?? events) : events;
    if (n !== expected) throw new Error(`${name}: saw ${n} events, expected ${expected}`);
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
 * three or four runs to settle), one worker at a time, and returns each one's median. Rounds
 * interleave the contenders and alternate their order (forwards, then backwards), so the noise
 * of a shared machine, and any cost of going first or last, falls on all of them alike.
 */
async function race(workers, row, how) {
  const times = workers.map(() => []);
  for (let r = 0; r < WARMUP; r++) for (const w of workers) await w.time(row, how);
  for (let r = 0; r < RUNS; r++) {
    const order = workers.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) times[i].push(await workers[i].time(row, how));
  }
  return times.map(median);
}

function pad(s, n) {
  return String(s).padEnd(n);
}

async function main() {
  const shown = CONTENDERS.map(([, , , short]) => short).filter(
    (short) => short !== 'esp' && short !== 'esp strm',
  );
  console.log(
    `node ${process.version}, median of ${RUNS} rounds (after ${WARMUP} warm-up) of ${CPU_CLOCK ? 'CPU' : 'wall'} time, each contender in its own worker, rounds alternate the order.`,
  );
  console.log(
    "Columns after MB/s: speed / eventsource-parser 4's (createParser; the stream columns: / its EventSourceParserStream).\n",
  );
  console.log(
    `${pad('row', 42)}${pad('chunks', 9)}${pad('esp MB/s', 10)}${pad('sse MB/s', 10)}${shown.map((s) => pad(s, 11)).join('')}`,
  );
  const workers = CONTENDERS.map(([name]) => startWorker(name));
  const worst = new Map(); // contender -> lowest ratio
  for (const [key, label, make] of ROWS) {
    const { bytes } = make();
    for (const how of HOWS) {
      const ms = await race(workers, key, how);
      const medians = Object.fromEntries(CONTENDERS.map(([cname], i) => [cname, ms[i]]));
      const mbs = (cname) =>
        medians[cname] === undefined ? '-' : (bytes.length / 1e3 / medians[cname]).toFixed(0);
      const cells = CONTENDERS.filter(([, , , short]) => shown.includes(short)).map(
        ([cname, , base, short]) => {
          const ratio = medians[base] / medians[cname];
          if (!Number.isNaN(ratio) && !(worst.get(short) <= ratio)) worst.set(short, ratio);
          return pad(Number.isNaN(ratio) ? '-' : `${ratio.toFixed(2)}x`, 11);
        },
      );
      const chunks = how === 'random' ? '1-2048 B' : `${how / 1024} KiB`;
      console.log(
        `${pad(`${key}) ${label}`, 42)}${pad(chunks, 9)}${pad(mbs('esp createParser'), 10)}${pad(mbs('ssekit createParser'), 10)}${cells.join('')}`,
      );
    }
  }
  await Promise.all(workers.map((w) => w.stop()));
  console.log(`\nlowest ratio: ${[...worst].map(([short, r]) => `${short} ${r.toFixed(2)}x`).join(', ')}`);
  if (process.env.LONG_LINE === '0') return;

  // A 64 MiB single line: 1 KiB chunks must cost at most 2x the same bytes in 64 KiB chunks.
  const line = startWorker('ssekit createParser');
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
