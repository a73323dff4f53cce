import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkDecoder, incompleteTail } from '../../src/protocol/decode.js';
import { FC } from './arbitraries.js';
import { cutAt } from './helpers.js';

const whole = (b: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);

function chunked(chunks: Uint8Array[]): string {
  const d = new ChunkDecoder();
  let out = '';
  for (const c of chunks) out += d.decode(c);
  return out + d.flush();
}

// Bytes that make every kind of UTF-8 edge likely: leads of each length, the restricted second
// bytes, continuations, invalid leads, ASCII.
const byte = fc.oneof(
  fc.constantFrom(0x41, 0x0a, 0x0d, 0x3a),
  fc.constantFrom(0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4),
  fc.constantFrom(0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf),
  fc.constantFrom(0xc0, 0xc1, 0xf5, 0xff, 0xef, 0xbb),
  fc.integer({ min: 0, max: 255 }),
);
const bytes = fc.array(byte, { maxLength: 64 }).map((xs) => Uint8Array.from(xs));

describe('ChunkDecoder', () => {
  it('holds back exactly a valid incomplete character', () => {
    expect(incompleteTail(Uint8Array.of(0x41, 0xe2, 0x82))).toBe(2);
    expect(incompleteTail(Uint8Array.of(0xf0, 0x9f, 0x98))).toBe(3);
    expect(incompleteTail(Uint8Array.of(0xc3))).toBe(1);
    expect(incompleteTail(Uint8Array.of(0xe0, 0x80))).toBe(0); // overlong: an error now
    expect(incompleteTail(Uint8Array.of(0xed, 0xa0))).toBe(0); // surrogate: an error now
    expect(incompleteTail(Uint8Array.of(0xe2, 0x82, 0xac))).toBe(0);
    expect(incompleteTail(Uint8Array.of(0x80, 0x80, 0x80))).toBe(0);
  });

  it('decodes any bytes cut anywhere exactly as one whole decode', () => {
    fc.assert(
      fc.property(
        bytes.chain((b) =>
          fc.tuple(
            fc.constant(b),
            fc
              .uniqueArray(fc.integer({ min: 0, max: b.length }), { maxLength: 12 })
              .map((x) => x.sort((p, q) => p - q)),
          ),
        ),
        ([b, at]) => {
          expect(chunked(cutAt(b, at))).toBe(whole(b));
        },
      ),
      { ...FC, numRuns: 2000 },
    );
  });

  it('decodes one byte at a time exactly as one whole decode', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        expect(chunked(Array.from(b, (x) => Uint8Array.of(x)))).toBe(whole(b));
      }),
      { ...FC, numRuns: 1000 },
    );
  });
});
