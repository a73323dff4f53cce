// Placeholder for the demo app (issue 7): parses a small stream cut in awkward places and prints
// what a receiver sees, then encodes an event with multi-line data.
import { createParser, encodeEvent } from '../dist/index.js';

const wire = new TextEncoder().encode(
  '\uFEFFretry: 3000\r\nid: 1\r\nevent: token\r\ndata: {"content":"H\u00e9llo"}\r\n\r\n: keep-alive\n\ndata: line one\ndata: line two\n\n',
);
const parser = createParser({
  onEvent: (e) => console.log('event  ', JSON.stringify(e)),
  onRetry: (ms) => console.log('retry  ', ms),
  onComment: (text) => console.log('comment', JSON.stringify(text)),
});
// Feed it 7 bytes at a time: CRLF pairs and the two-byte é get cut between chunks.
for (let i = 0; i < wire.length; i += 7) parser.feed(wire.subarray(i, i + 7));
console.log('\nencoded:', JSON.stringify(encodeEvent({ id: '2', event: 'token', data: 'multi\nline' })));
