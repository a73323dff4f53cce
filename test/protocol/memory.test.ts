/**
 * Bounded memory: a 64 MiB line fed in 64 KiB chunks with a 1 MiB limit is reported once, and the
 * parser never holds more than the limit.
 */
import { expect, it } from 'vitest';
import { createParser, type ParseError } from '../../src/index.js';

it('a 64 MiB line with a 1 MiB limit: one error, heap does not grow by the line', () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61); // 'a'
  const errors: ParseError[] = [];
  const events: string[] = [];
  const parser = createParser(
    { onError: (e) => errors.push(e), onEvent: (e) => events.push(e.data) },
    { maxBufferSize: 1024 * 1024 },
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  expect(typeof gc, 'vitest.config.ts passes --expose-gc').toBe('function');
  gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  parser.feed('data: ');
  for (let i = 0; i < 1024; i++) {
    parser.feed(chunk);
    if (i % 16 === 0) {
      gc?.();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
  }
  parser.feed('\n\ndata: after\n\n');
  gc?.();
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  expect(errors.map((e) => e.type)).toEqual(['max-buffer-size-exceeded']);
  expect(events).toEqual(['after']);
  // 64 MiB went through; the parser may hold 1 MiB of it, plus the chunk in flight.
  expect(peak - before).toBeLessThan(8 * 1024 * 1024);
});
