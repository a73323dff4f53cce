/** One validator for the numeric options of the server, hub, replies and adapters. */
import { describe, expect, it } from 'vitest';
import { createHub } from '../../src/hub/index.js';
import { createReplies } from '../../src/replies/index.js';
import { checkNumber, retryAfterHeader } from '../../src/server/options.js';

describe('checkNumber', () => {
  it('takes positive integers by default, and says what it wanted and got', () => {
    expect(checkNumber('n', 1)).toBe(1);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3', undefined]) {
      expect(() => checkNumber('n', bad)).toThrow(RangeError);
    }
    expect(() => checkNumber('maxTopics', 0)).toThrow('maxTopics must be a positive integer, got 0');
  });

  it('min 0 allows zero; unbounded allows Infinity for no bound', () => {
    expect(checkNumber('n', 0, { min: 0 })).toBe(0);
    expect(() => checkNumber('n', -1, { min: 0 })).toThrow('n must be a non-negative integer, got -1');
    expect(checkNumber('n', Number.POSITIVE_INFINITY, { unbounded: true })).toBe(Number.POSITIVE_INFINITY);
    expect(() => checkNumber('n', 0.5, { min: 0, unbounded: true })).toThrow(
      'n must be a non-negative integer or Infinity, got 0.5',
    );
  });

  it('fraction allows any finite number above the minimum (above 0 by default)', () => {
    expect(checkNumber('ms', 0.5, { fraction: true })).toBe(0.5);
    expect(() => checkNumber('ms', 0, { fraction: true })).toThrow('ms must be a positive number, got 0');
    expect(checkNumber('ms', 0, { fraction: true, min: 0 })).toBe(0);
    expect(() => checkNumber('ms', Number.NEGATIVE_INFINITY, { fraction: true, unbounded: true })).toThrow(
      RangeError,
    );
  });

  it('validates retryAfter in the hub and in replies (a whole number of ms, 0 allowed)', () => {
    expect(() => createHub({ retryAfter: -1 })).toThrow('retryAfter must be a non-negative integer');
    expect(() => createHub({ retryAfter: 1.5 })).toThrow(RangeError);
    expect(() => createReplies({ retryAfter: Number.NaN })).toThrow(RangeError);
    expect(() => createHub({ retryAfter: 0 }).close()).not.toThrow();
  });

  it('validates close({ timeout }) of the hub and replies (ms, 0 allowed)', async () => {
    const hub = createHub();
    const replies = createReplies();
    expect(() => hub.close({ timeout: -1 })).toThrow('timeout must be a non-negative integer');
    expect(() => hub.close({ timeout: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => replies.close({ timeout: Number.NaN })).toThrow(RangeError);
    await Promise.all([hub.close({ timeout: 0 }), replies.close({ timeout: 0 })]);
  });

  it("refuses Infinity for the hub's timers (setTimeout would take it as 1 ms)", () => {
    expect(() => createHub({ heartbeat: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => createHub({ slowConsumerGrace: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('writes Retry-After in whole seconds, rounded up', () => {
    expect(retryAfterHeader(0)).toBe('0');
    expect(retryAfterHeader(1)).toBe('1');
    expect(retryAfterHeader(5000)).toBe('5');
    expect(retryAfterHeader(6001)).toBe('7');
  });
});
