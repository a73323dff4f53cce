import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
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

  it('takes the plain call again only when the streaming decoder holds nothing', () => {
    // The last byte of 😀 completes it (2 UTF-16 units from 1 byte), so 3 bytes give 3
    // characters, as if ASCII, and a lead byte is left held. The next chunk is one continuation
    // byte that does not finish it: a plain call would end the character there as U+FFFD.
    const d = new ChunkDecoder();
    expect(d.decode(Uint8Array.of(0x41, 0xf0, 0x9f, 0x98))).toBe('A');
    expect(d.decode(Uint8Array.of(0x80, 0x43, 0xf0))).toBe('😀C');
    expect(d.decode(Uint8Array.of(0x9f))).toBe('');
    expect(d.decode(Uint8Array.of(0x98, 0x80, 0x42))).toBe('😀B');
    expect(d.flush()).toBe('');
  });

  describe('which call each chunk takes', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    /** 's' for each streaming call, 'p' for each plain one, in order. */
    function calls(chunks: string[]): string {
      const spy = vi.spyOn(TextDecoder.prototype, 'decode');
      const d = new ChunkDecoder();
      for (const c of chunks) d.decode(new TextEncoder().encode(c));
      return spy.mock.calls.map(([, options]) => (options?.stream ? 's' : 'p')).join('');
    }

    it('decodes ASCII with the plain call from the first chunk on', () => {
      expect(calls(['data: a\n', 'data: b\n', 'data: c\n'])).toBe('ppp');
    });

    it('after non-ASCII text, goes back to the plain call only after two ASCII chunks', () => {
      // Text where ASCII is only now and then cut by a character or two (bench:parser row b):
      // the chunk after one ASCII chunk is most often not ASCII, and the plain call costs more
      // than the streaming one there.
      expect(calls(['é€ aaa', 'bbbb', 'é€ ccc', 'dddd', 'eeee', 'ffff', 'gggg'])).toBe('psssspp');
    });
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

  it('gives the same text whichever way each chunk is decoded (ASCII and non-ASCII chunks mixed)', () => {
    // The decoder switches between a plain and a streaming call by the previous chunk's
    // content; chunks of ASCII, non-ASCII and invalid bytes in every order exercise each
    // switch, with characters cut across the edges.
    const kinds = [
      new TextEncoder().encode('data: plain ascii\n'),
      new TextEncoder().encode('data: é€😀 mixed\n'),
      Uint8Array.of(0x41, 0xff, 0x80, 0xe2, 0x82), // invalid bytes, then a cut character
      Uint8Array.of(0xac, 0x42, 0xf0, 0x9f),
      Uint8Array.of(0x98, 0x80, 0x0a),
    ];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: kinds.length - 1 }), { maxLength: 24 }), (order) => {
        const chunks = order.map((i) => kinds[i]!);
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        expect(chunked(chunks)).toBe(whole(all));
      }),
      { ...FC, numRuns: 1000 },
    );
  });
});
