/** Seeded property tests: chunking never changes what the parser reports. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cuts, eventStream, FC } from './arbitraries.js';
import { cutAt, parseChunks } from './helpers.js';

const utf8 = new TextEncoder();

describe('any split of a stream gives the same events as feeding it whole', () => {
  it('as strings', () => {
    fc.assert(
      fc.property(
        eventStream.chain((s) => fc.tuple(fc.constant(s), cuts(s.length))),
        ([stream, at]) => {
          expect(parseChunks(cutAt(stream, at))).toEqual(parseChunks([stream]));
        },
      ),
      FC,
    );
  });

  it('as bytes, cutting UTF-8 characters and CRLF pairs', () => {
    fc.assert(
      fc.property(
        eventStream.chain((s) => {
          const bytes = utf8.encode(s);
          return fc.tuple(fc.constant(s), fc.constant(bytes), cuts(bytes.length));
        }),
        ([stream, bytes, at]) => {
          expect(parseChunks(cutAt(bytes, at))).toEqual(parseChunks([stream]));
        },
      ),
      FC,
    );
  });

  it('one byte at a time', () => {
    fc.assert(
      fc.property(eventStream, (stream) => {
        const bytes = utf8.encode(stream);
        expect(parseChunks(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(parseChunks([stream]));
      }),
      { ...FC, numRuns: 100 },
    );
  });
});
