/**
 * One contender on one row of bench/parser.mjs, ITERS times, for callgrind (see run.sh): the
 * instruction count is deterministic under `node --single-threaded`, unlike timings on a
 * shared machine. WHO: sse | esp | sseS | espS (stream classes) | sseT | espT (pre-decoded text) | td | tds (TextDecoder plain / streaming only) | none; ROW: a-d; HOW: 1024,
 * 16384 or random. Needs `npm run bench:parser` once first (it builds dist/ and puts
 * eventsource-parser 4 into bench/node_modules).
 */

import { createParser as espCreateParser } from 'eventsource-parser';
import { chunked, drain, source, streams } from '../lib/parser-streams.mjs';

const DIST = process.env.DIST ?? '../../dist/index.js';
const { createParser, EventStreamParser } = await import(DIST);
const { EventSourceParserStream } = await import('eventsource-parser/stream');
const row = process.env.ROW ?? 'a';
const how = process.env.HOW === 'random' ? 'random' : Number(process.env.HOW ?? 1024);
const ITERS = Number(process.env.ITERS ?? 3);
const { bytes, events } = streams[row]();
const chunks = chunked(bytes, how);
const strs = [];
{
  const d = new TextDecoder();
  for (const c of chunks) strs.push(d.decode(c, { stream: true }));
}
const who = {
  sseT() {
    let n = 0;
    const p = createParser({ onEvent: () => n++ }, { maxBufferSize: 1 << 27 });
    for (const c of strs) p.feed(c);
    return n;
  },
  espT() {
    let n = 0;
    const p = espCreateParser({ onEvent: () => n++ });
    for (const c of strs) p.feed(c);
    return n;
  },
  none: () => events,
  td() {
    const d = new TextDecoder();
    let n = 0;
    for (const c of chunks) n += d.decode(c).length;
    return n ? events : 0;
  },
  tds() {
    const d = new TextDecoder();
    let n = 0;
    for (const c of chunks) n += d.decode(c, { stream: true }).length;
    return n ? events : 0;
  },
  sse() {
    let n = 0;
    const p = createParser({ onEvent: () => n++ }, { maxBufferSize: 1 << 27 });
    for (const c of chunks) p.feed(c);
    return n;
  },
  esp() {
    let n = 0;
    const p = espCreateParser({ onEvent: () => n++ });
    const d = new TextDecoder();
    for (const c of chunks) p.feed(d.decode(c, { stream: true }));
    return n;
  },
  sseS: () => drain(source(chunks).pipeThrough(new EventStreamParser({ maxBufferSize: 1 << 27 }))),
  espS: () =>
    drain(source(chunks).pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())),
}[process.env.WHO ?? 'sse'];
for (let i = 0; i < ITERS; i++) {
  const n = await who();
  if (n !== events) throw new Error(`saw ${n}`);
}
