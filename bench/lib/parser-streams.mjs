// The streams of `npm run bench:parser` (bench/parser.mjs) and of the callgrind harness
// (bench/callgrind/one.mjs), built from seeded PRNGs so every run and both tools see the same bytes.
// They differ in event size (LLM tokens, ~100 B, ~1 KiB, 16 KiB, 64 KiB), line ending (LF, CRLF,
// CR, and LF with some CRLF), text (ASCII, or UTF-8 of 2, 3 and 4 bytes a character, which the
// chunking cuts mid-character), data lines per event, comments (heartbeats) and id/event fields,
// so that a tuning for one shape cannot pass for speed:
//   a) 100k LLM-token events (event + data, some non-ASCII), LF
//   b) 256 events of one 64 KiB data line with some non-ASCII, LF
//   c) 20k events of 8 ASCII CRLF data lines with id and event, CRLF
//   d) an LF stream in which 1 event in 200 uses CRLF
//   e) 100k OpenAI-style token events (data only, ASCII), CRLF
//   f) 50k ~100 B events with id, event and data (ASCII), LF
//   g) 5k ~1 KiB events of one data line, mostly 3-byte characters (CJK), with id, LF
//   h) 400 16 KiB events of one ASCII JSON data line, with id, CRLF
//   i) 50k ~100 B events with id, event and data (ASCII), CR only
//   j) 5k ~1 KiB events of 10 data lines (Greek, 2-byte), a heartbeat comment between events, LF
//   k) 400 16 KiB events of 16 data lines (mixed 2-, 3- and 4-byte characters), CRLF
// `chunked` cuts them in fixed sizes or seeded random 1-2048-byte chunks (cutting UTF-8
// characters and CRLF pairs); `source` and `drain` feed the chunks to a stream parser and read
// its events, the same way for every stream contender.
import { seeded as rng } from '../../test/helpers/seeded.mjs';

const utf8 = new TextEncoder();
export function streamA() {
  const words = ['Hello', ' world', ',', ' the', ' quick', ' brown', ' fox', ' jumps', ' über', ' 😀'];
  const r = rng(1);
  let s = '';
  for (let i = 0; i < 100_000; i++) {
    const content = words[Math.floor(r() * words.length)];
    s += `event: message\ndata: {"content":${JSON.stringify(content)}}\n\n`;
  }
  return { bytes: utf8.encode(s), events: 100_000 };
}
export function streamB() {
  const r = rng(2);
  const parts = [];
  for (let i = 0; i < 256; i++) {
    let line = '';
    while (line.length < 64 * 1024) line += r() < 0.05 ? 'é€' : 'abcdefghijklmnop';
    parts.push(`id: ${i}\ndata: ${line}\n\n`);
  }
  return { bytes: utf8.encode(parts.join('')), events: 256 };
}
export function streamC() {
  let s = '';
  for (let i = 0; i < 20_000; i++) {
    s += `id: ${i}\r\nevent: log\r\n`;
    for (let j = 0; j < 8; j++) s += `data: line ${j} of event ${i}, some text to carry\r\n`;
    s += '\r\n';
  }
  return { bytes: utf8.encode(s), events: 20_000 };
}
export function streamD() {
  let s = '';
  for (let i = 0; i < 100_000; i++) {
    s +=
      i % 200 === 0
        ? `id: ${i}\r\ndata: {"n":${i},"v":"crlf"}\r\n\r\n`
        : `id: ${i}\ndata: {"n":${i},"v":"plain lf event"}\n\n`;
  }
  return { bytes: utf8.encode(s), events: 100_000 };
}

/** `n` characters drawn from `alphabet` (an array of strings, one character each). */
function text(r, alphabet, n) {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}
const ASCII = [...'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;-_'];
const CJK = [
  ...'的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明',
];
const GREEK = [...'αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ'];
const MIXED = [...'abcdefghij éèçàüöß €£¥ 中文字 😀🚀✨ '];
export function streamE() {
  const words = ['Hello', ' world', ',', ' the', ' quick', ' brown', ' fox', ' jumps', ' over', '.'];
  const r = rng(5);
  let s = '';
  for (let i = 0; i < 100_000; i++) {
    const content = words[Math.floor(r() * words.length)];
    s += `data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}}}]}\r\n\r\n`;
  }
  return { bytes: utf8.encode(s), events: 100_000 };
}
/** ~100 B events with id, event and data, lines ending in `eol`. */
function smallEvents(seed, eol) {
  const r = rng(seed);
  const kinds = ['update', 'status', 'tick'];
  const parts = [];
  for (let i = 0; i < 50_000; i++) {
    const kind = kinds[Math.floor(r() * kinds.length)];
    parts.push(
      `id: ${i}${eol}event: ${kind}${eol}data: {"seq":${i},"value":"${text(r, ASCII, 40)}"}${eol}${eol}`,
    );
  }
  return { bytes: utf8.encode(parts.join('')), events: 50_000 };
}
export const streamF = () => smallEvents(6, '\n');
export function streamG() {
  const r = rng(7);
  const parts = [];
  for (let i = 0; i < 5_000; i++) parts.push(`id: ${i}\ndata: ${text(r, CJK, 340)}\n\n`);
  return { bytes: utf8.encode(parts.join('')), events: 5_000 };
}
export function streamH() {
  const r = rng(8);
  const parts = [];
  for (let i = 0; i < 400; i++) {
    let items = '';
    for (let k = 0; items.length < 16 * 1024; k++)
      items += `${k ? ',' : ''}{"k":${k},"v":"${text(r, ASCII, 24)}"}`;
    parts.push(`id: ${i}\r\ndata: [${items}]\r\n\r\n`);
  }
  return { bytes: utf8.encode(parts.join('')), events: 400 };
}
export function streamI() {
  // The last line end is CRLF: eventsource-parser 3 holds a CR that ends the input (it may be
  // half a CRLF) and so would miss the last event.
  const { bytes, events } = smallEvents(9, '\r');
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = 10;
  return { bytes: out, events };
}
export function streamJ() {
  const r = rng(10);
  const parts = [];
  for (let i = 0; i < 5_000; i++) {
    let s = `id: ${i}\nevent: article\n`;
    for (let j = 0; j < 10; j++) s += `data: ${text(r, GREEK, 50)}\n`;
    parts.push(`${s}\n: heartbeat\n\n`);
  }
  // blocks: blank lines, which the floor and fetch-event-source count (a heartbeat is no event)
  return { bytes: utf8.encode(parts.join('')), events: 5_000, blocks: 10_000 };
}
export function streamK() {
  const r = rng(11);
  const parts = [];
  for (let i = 0; i < 400; i++) {
    let s = `id: ${i}\r\n`;
    for (let j = 0; j < 16; j++) s += `data: ${text(r, MIXED, 560)}\r\n`;
    parts.push(`${s}\r\n`);
  }
  return { bytes: utf8.encode(parts.join('')), events: 400 };
}
export const streams = {
  a: streamA,
  b: streamB,
  c: streamC,
  d: streamD,
  e: streamE,
  f: streamF,
  g: streamG,
  h: streamH,
  i: streamI,
  j: streamJ,
  k: streamK,
};
export function chunked(bytes, how) {
  const out = [];
  if (how === 'random') {
    const r = rng(42);
    for (let i = 0; i < bytes.length; ) {
      const n = 1 + Math.floor(r() * 2048);
      out.push(bytes.subarray(i, i + n));
      i += n;
    }
  } else {
    for (let i = 0; i < bytes.length; i += how) out.push(bytes.subarray(i, i + how));
  }
  return out;
}

/** A ReadableStream of `chunks`, one per pull. */
export function source(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

/** Reads `stream` to its end, one read() per chunk; resolves with the number of chunks. */
export async function drain(stream) {
  let n = 0;
  const reader = stream.getReader();
  while (!(await reader.read()).done) n++;
  return n;
}
