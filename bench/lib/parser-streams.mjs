// The four streams of `npm run bench:parser` (bench/parser.mjs) and of the callgrind harness
// (bench/callgrind/one.mjs), built from seeded PRNGs so every run and both tools see the same bytes:
//   a) 100k small LLM-token events; b) 256 events of one 64 KiB data line with some non-ASCII;
//   c) 20k events of 8 CRLF data lines; d) an LF stream in which 1 event in 200 uses CRLF.
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
export const streams = { a: streamA, b: streamB, c: streamC, d: streamD };
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
