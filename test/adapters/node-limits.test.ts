import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openFilesLimit, subscriberCapacity } from '../../src/adapters/node/index.js';

const linux = process.platform === 'linux';
// The built package (test/global-setup.ts keeps dist/ fresh): node 20 cannot load .ts itself.
const nodeEntry = fileURLToPath(new URL('../../dist/node.js', import.meta.url));

describe('openFilesLimit', () => {
  it.runIf(linux)('reads the soft open-files limit of the process (Linux)', () => {
    const limit = openFilesLimit();
    expect(limit).toBeGreaterThan(0);
    // A child under `ulimit -n 200` (soft and hard: node cannot raise it) sees 200.
    const seen = execFileSync(
      'sh',
      [
        '-c',
        `ulimit -n 200; exec "${process.execPath}" --input-type=module -e "import('${nodeEntry}').then((m) => console.log(m.openFilesLimit()))"`,
      ],
      { encoding: 'utf8' },
    );
    expect(seen.trim()).toBe('200');
  });

  it('is unknown off Linux, and subscriberCapacity() then falls back to max', () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { value: 'darwin', configurable: true });
    try {
      expect(openFilesLimit()).toBeUndefined();
      expect(subscriberCapacity()).toBe(10_000);
      expect(subscriberCapacity({ max: 50 })).toBe(50);
    } finally {
      if (platform !== undefined) Object.defineProperty(process, 'platform', platform);
    }
  });
});

describe('subscriberCapacity', () => {
  it('is the limit minus a reserve of 10%, at least 64 and at most half, capped at max', () => {
    expect(subscriberCapacity({ openFiles: 200, max: Infinity })).toBe(136);
    expect(subscriberCapacity({ openFiles: 1024, max: Infinity })).toBe(921);
    expect(subscriberCapacity({ openFiles: 100, max: Infinity })).toBe(50);
    expect(subscriberCapacity({ openFiles: 1_048_576, max: Infinity })).toBe(943_718);
    expect(subscriberCapacity({ openFiles: 1_048_576 })).toBe(10_000);
    expect(subscriberCapacity({ openFiles: 1000, reserve: 10, max: Infinity })).toBe(990);
    expect(subscriberCapacity({ openFiles: 1, reserve: 0 })).toBe(1);
    expect(subscriberCapacity({ openFiles: 5, reserve: 10 })).toBe(1);
  });

  it('an unlimited openFiles (Infinity) leaves max alone', () => {
    expect(subscriberCapacity({ openFiles: Infinity })).toBe(10_000);
    expect(subscriberCapacity({ openFiles: Infinity, max: 500 })).toBe(500);
    expect(subscriberCapacity({ openFiles: Infinity, reserve: 100, max: 500 })).toBe(500);
  });

  it('derives from the process limit by default', () => {
    const limit = openFilesLimit();
    expect(subscriberCapacity({ max: Infinity })).toBe(
      limit === undefined ? Infinity : subscriberCapacity({ openFiles: limit, max: Infinity }),
    );
  });

  it('refuses nonsense with a RangeError', () => {
    expect(() => subscriberCapacity({ openFiles: 0 })).toThrow(RangeError);
    expect(() => subscriberCapacity({ openFiles: 1.5 })).toThrow(RangeError);
    expect(() => subscriberCapacity({ reserve: -1, openFiles: 10 })).toThrow(RangeError);
    expect(() => subscriberCapacity({ max: 0 })).toThrow(RangeError);
    expect(() => subscriberCapacity({ max: Number.NaN })).toThrow(RangeError);
  });
});
