/**
 * Streaming UTF-8 decoding that takes the cheaper of two calls for each chunk.
 *
 * Node 20 measured (callgrind instruction counts, 1 KiB chunks): for ASCII text a plain
 * `decode(bytes)` costs about a quarter of `decode(bytes, { stream: true })` and yields one-byte
 * strings, which the parser then reads faster too; for text with non-ASCII characters the
 * streaming call costs about 0.7x the plain one. So a chunk takes the plain call at the start of
 * the stream and after two all-ASCII chunks in a row, and the streaming one otherwise.
 *
 * The result is the same as one streaming decoder's, replacement characters included (WHATWG
 * Encoding §4.1.1, UTF-8 decoder): the plain call is made only when the decoder holds no bytes
 * of an incomplete character and the chunk ends on a character boundary, where a streaming call
 * would leave nothing held either. Nothing is copied: an earlier version cut each chunk's
 * incomplete tail off by hand and joined it to the next chunk, which cost more than the decoding
 * itself on text with many multi-byte characters. Keeping the bytes of a line cut across chunks
 * and decoding each line with one call was measured as well, and is slower on Node 20: finding
 * line ends in bytes costs more than decoding in small calls saves (bench/parser.mjs, the
 * "floor: bytes+lines" reference).
 */

/** Options for the streaming call, made once rather than per chunk. */
const STREAM = { stream: true } as const;

/**
 * How many bytes at the end of `b` (0-3) start a character that is still valid so far but not
 * complete: those are held back for the next chunk.
 */
export function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    // Sequence length by lead byte (§4.1.1 step for "UTF-8 bytes needed is 0").
    const need = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (need <= k) return 0; // ASCII, an invalid lead, or a complete sequence
    if (k >= 2) {
      // The second byte of some sequences has a narrower range (no overlongs, no surrogates).
      const c1 = b[n - k + 1]!;
      const lower = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
      const upper = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
      if (c1 < lower || c1 > upper) return 0;
    }
    return k;
  }
  return 0;
}

export class ChunkDecoder {
  // Two decoders: Node's TextDecoder leaves its fast path for good after one streaming call,
  // so the plain calls have one of their own, which never streams. ignoreBOM: a BOM is only
  // special at the very start of the stream, which the parser handles for bytes and text alike.
  readonly #plain = new TextDecoder('utf-8', { ignoreBOM: true });
  readonly #stream = new TextDecoder('utf-8', { ignoreBOM: true });
  /**
   * How many chunks in a row (2 at most) decoded to as many characters as they had bytes (most
   * likely ASCII), each leaving the streaming decoder holding nothing. At 2 the next chunk takes
   * the plain call: after non-ASCII text one ASCII chunk is not enough, because in text where
   * ASCII stretches are only now and then cut by a character or two (row b of bench:parser),
   * the chunk after an ASCII one is most often not ASCII, and the plain call costs more than the
   * streaming one on such a chunk. A new stream starts at 2: ASCII streams never stream.
   */
  #ascii = 2;

  decode(chunk: Uint8Array): string {
    const n = chunk.length;
    // The plain call only for a chunk that ends on a character boundary (its incomplete tail
    // would become U+FFFD); any other chunk, and every chunk after non-ASCII text, takes the
    // streaming call, which holds such a tail itself. Either way no byte is copied.
    const text =
      this.#ascii > 1 && incompleteTail(chunk) === 0
        ? this.#plain.decode(chunk)
        : this.#stream.decode(chunk, STREAM);
    // Back to the plain call once chunks are all ASCII again, if the streaming decoder is left
    // holding nothing: with 3 bytes or more, the chunk's own tail says so, whatever it held
    // before (a lead byte is always read as one, and a held character has at most 2
    // continuation bytes after its lead). A shorter chunk starts the count over.
    this.#ascii = text.length === n && n >= 3 && incompleteTail(chunk) === 0 ? (this.#ascii ? 2 : 1) : 0;
    return text;
  }

  /** The end of the bytes: a character still incomplete becomes U+FFFD. */
  flush(): string {
    this.#ascii = 2;
    return this.#stream.decode();
  }
}
