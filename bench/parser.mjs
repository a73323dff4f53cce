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
 * Options (env): RUNS (default 7), ROWS (comma-separated row names to run, e.g. "a,d").
 */
import { getLines, getMessages } from '@microsoft/fetch-event-source/lib/esm/parse.js';
import { createParser as espCreateParser } from 'eventsource-parser';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { createParser as esp3CreateParser } from 'eventsource-parser-v3';
import { createParser, EventStreamParser } from '../dist/index.js';
import { chunked, streamA, streamB, streamC, streamD } from './lib/parser-streams.mjs';

const RUNS = Number(process.env.RUNS ?? 7);
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

function source(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

async function drain(stream) {
  let n = 0;
  const reader = stream.getReader();
  while (!(await reader.read()).done) n++;
  return n;
}

const runSsekitStream = (chunks) =>
  drain(source(chunks).pipeThrough(new EventStreamParser({ maxBufferSize: 128 * 1024 * 1024 })));
const runEspStream = (chunks) =>
  drain(source(chunks).pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()));

const CONTENDERS = [
  ['ssekit createParser', runSsekit, 'esp createParser'],
  ['esp createParser', runEsp, 'esp createParser'],
  ['esp 3.1.1 createParser', runEsp3, 'esp createParser'],
  ['fetch-event-source', runFes, 'esp createParser'],
  ['ssekit EventStreamParser', runSsekitStream, 'esp stream'],
  ['esp stream', runEspStream, 'esp stream'],
];

async function timeOnce(fn, chunks, expected) {
  const t0 = performance.now();
  const n = await fn(chunks);
  const ms = performance.now() - t0;
  if (n !== expected) throw new Error(`${fn.name}: saw ${n} events, expected ${expected}`);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs every contender once per round, RUNS rounds, and returns each one's median: interleaving
 * spreads the noise of a shared machine over all contenders alike.
 */
async function race(contenders, chunks, expected) {
  const times = contenders.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < contenders.length; i++)
      times[i].push(await timeOnce(contenders[i], chunks, expected));
  }
  return times.map(median);
}

function pad(s, n) {
  return String(s).padEnd(n);
}

async function main() {
  const rows = [
    ['a', 'small LLM-token events', streamA],
    ['b', '64 KiB lines, non-ASCII', streamB],
    ['c', 'multi-line data, CRLF', streamC],
    ['d', 'LF, 1 in 200 CRLF', streamD],
  ].filter(([k]) => !ONLY || ONLY.includes(k));
  console.log(
    `node ${process.version}, median of ${RUNS} runs; ratio = speed / eventsource-parser's (same kind)\n`,
  );
  console.log(`${pad('row', 34)}${pad('parser', 26)}${pad('MB/s', 9)}${pad('events/s', 12)}ratio`);
  for (const [key, label, make] of rows) {
    const { bytes, events } = make();
    for (const how of [1024, 16 * 1024, 'random']) {
      const chunks = chunked(bytes, how);
      const name = `${key}) ${label}, ${how === 'random' ? '1-2048 B' : `${how / 1024} KiB`}`;
      const medians = {};
      const ms = await race(
        CONTENDERS.map(([, fn]) => fn),
        chunks,
        events,
      );
      CONTENDERS.forEach(([cname], i) => {
        medians[cname] = ms[i];
      });
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

  // A 64 MiB single line: 1 KiB chunks must cost at most 2x the same bytes in 64 KiB chunks.
  const line = new Uint8Array(64 * 1024 * 1024 + 8).fill(0x61);
  line.set(utf8.encode('data: '), 0);
  line.set(utf8.encode('\n\n'), line.length - 2);
  const small1k = chunked(line, 1024);
  const large64k = chunked(line, 64 * 1024);
  const times = [[], []];
  for (let r = 0; r < RUNS; r++) {
    times[0].push(await timeOnce(runSsekit, small1k, 1));
    times[1].push(await timeOnce(runSsekit, large64k, 1));
  }
  const [small, large] = times.map(median);
  console.log(
    `\n64 MiB single line, ssekit: 1 KiB chunks ${small.toFixed(0)} ms, 64 KiB chunks ${large.toFixed(0)} ms, ratio ${(small / large).toFixed(2)}x (bar: <= 2x)`,
  );
}

await main();
