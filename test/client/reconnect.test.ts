import { describe, expect, it } from 'vitest';
import { type ConnectOptions, connect } from '../../src/client/connect.js';
import {
  BodyError,
  ContentTypeError,
  HttpError,
  IdleTimeoutError,
  NetworkError,
  StreamEndError,
} from '../../src/client/errors.js';
import { backoffDelay, isReconnectable, parseRetryAfter } from '../../src/client/reconnect.js';
import { ParseError } from '../../src/protocol/errors.js';

describe('backoffDelay', () => {
  it('never waits less than the reconnection time (§9.2.3), whatever the jitter draws', () => {
    for (const failures of [0, 1, 5, 20]) {
      expect(backoffDelay(3000, failures, {}, () => 0.999999)).toBeGreaterThanOrEqual(3000);
      expect(backoffDelay(3000, failures, {}, () => 0.999999)).toBeLessThanOrEqual(3000 + 30_000);
    }
  });

  it('with full jitter spreads the first retry over [reconnection time, twice it)', () => {
    expect(backoffDelay(1000, 0, {}, () => 0)).toBe(2000);
    expect(backoffDelay(1000, 0, {}, () => 0.5)).toBe(1500);
    expect(backoffDelay(1000, 0, {}, () => 0.999)).toBe(1001);
  });

  it('grows the backoff term by factor per consecutive failure, capped at maxDelay', () => {
    const fixed = { jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(1000, n, fixed))).toEqual([
      2000, 3000, 5000, 9000, 17_000, 31_000, 31_000,
    ]);
    expect(backoffDelay(100, 3, { jitter: 0, factor: 3, maxDelay: 1000 })).toBe(1100);
    expect(backoffDelay(100, 2, { jitter: 0, factor: 3, maxDelay: 1000 })).toBe(1000);
  });

  it('backs off from 1 ms when the server asked for retry: 0', () => {
    expect([0, 1, 10].map((n) => backoffDelay(0, n, { jitter: 0 }))).toEqual([1, 2, 1024]);
  });

  it('spreads a thousand clients cut off at once over the whole window', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const delays = Array.from({ length: 1000 }, () => backoffDelay(1000, 0, {}, random));
    const buckets = new Array(10).fill(0);
    for (const d of delays) buckets[Math.min(9, Math.floor((d - 1000) / 100))]++;
    // Every tenth of the window gets a share: no bucket empty, none holding a third of them.
    expect(Math.min(...buckets)).toBeGreaterThan(50);
    expect(Math.max(...buckets)).toBeLessThan(150);
  });
});

describe('connect: its numeric options are checked when it is called', () => {
  // The signal is aborted, so a connect that does not throw returns a connection closed at
  // once: no request, no timer, whether the check is there or not.
  const call = (options: ConnectOptions) => () =>
    connect('http://127.0.0.1/', { ...options, signal: AbortSignal.abort() });
  const options: [string, (value: number) => ConnectOptions][] = [
    ['idleTimeout', (idleTimeout) => ({ idleTimeout })],
    ['reconnect.initialDelay', (initialDelay) => ({ reconnect: { initialDelay } })],
    ['reconnect.maxDelay', (maxDelay) => ({ reconnect: { maxDelay } })],
    ['reconnect.factor', (factor) => ({ reconnect: { factor } })],
    ['reconnect.jitter', (jitter) => ({ reconnect: { jitter } })],
    ['reconnect.maxAttempts', (maxAttempts) => ({ reconnect: { maxAttempts } })],
  ];
  const bad: [string, unknown][] = [
    ['a string', '1000'],
    ['NaN', Number.NaN],
    ['negative', -1],
  ];
  const cases = [
    ...options.flatMap(([name, set]) => bad.map(([kind, value]) => [name, kind, value, set] as const)),
    [
      'reconnect.jitter',
      'above 1',
      1.5,
      (jitter: number): ConnectOptions => ({ reconnect: { jitter } }),
    ] as const,
  ];

  it.each(cases)(
    '%s, %s: a RangeError that names the option and shows the value',
    (name, _kind, value, set) => {
      const attempt = call(set(value as number));
      expect(attempt).toThrow(RangeError);
      const max = name === 'reconnect.jitter' ? 1 : 'Infinity';
      expect(attempt).toThrow(`${name} must be a number from 0 to ${max}, got ${String(value)}`);
    },
  );

  it('takes what the rule allows (0, Infinity, jitter 0 to 1, undefined for the default) and nothing past it', () => {
    for (const allowed of [
      { idleTimeout: 0 },
      { idleTimeout: Number.POSITIVE_INFINITY },
      { reconnect: { initialDelay: 0, maxDelay: 0, factor: 0, jitter: 0, maxAttempts: 0 } },
      {
        reconnect: {
          initialDelay: Number.POSITIVE_INFINITY,
          maxDelay: Number.POSITIVE_INFINITY,
          factor: Number.POSITIVE_INFINITY,
          jitter: 1,
          maxAttempts: Number.POSITIVE_INFINITY,
        },
      },
      { idleTimeout: undefined, reconnect: { initialDelay: undefined, jitter: undefined } },
      { reconnect: false as const },
    ]) {
      expect(call(allowed)).not.toThrow();
    }
    expect(call({ reconnect: { jitter: 1 + Number.EPSILON } })).toThrow(RangeError);
    expect(call({ idleTimeout: -Number.MIN_VALUE })).toThrow(RangeError);
    // null is not undefined: no default, and not a number either.
    expect(call({ reconnect: { maxDelay: null as unknown as number } })).toThrow(
      'reconnect.maxDelay must be a number from 0 to Infinity, got null',
    );
  });
});

describe('isReconnectable', () => {
  it.each([500, 502, 503, 599, 408, 429])('retries HTTP %i', (status) => {
    expect(isReconnectable(new HttpError(new Response(null, { status }), 'GET', 'http://x/'))).toBe(true);
  });
  it.each([400, 401, 403, 404, 410, 201, 301, 304])('does not retry HTTP %i', (status) => {
    expect(isReconnectable(new HttpError(new Response(null, { status }), 'GET', 'http://x/'))).toBe(false);
  });
  it('retries transport failures, ended streams, idle timeouts and oversized lines', () => {
    expect(isReconnectable(new NetworkError('x'))).toBe(true);
    expect(isReconnectable(new StreamEndError('x'))).toBe(true);
    expect(isReconnectable(new IdleTimeoutError('x'))).toBe(true);
    expect(isReconnectable(new ParseError('max-buffer-size-exceeded', 'x'))).toBe(true);
  });
  it('does not retry a wrong content type, a refused body or anything else', () => {
    expect(isReconnectable(new ContentTypeError('text/html'))).toBe(false);
    expect(isReconnectable(new BodyError('x'))).toBe(false);
    expect(isReconnectable(new Error('thrown by a callback'))).toBe(false);
    expect(isReconnectable(undefined)).toBe(false);
    expect(isReconnectable('a string')).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 1, 12, 0, 0);
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });
  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 11:00:00 GMT', now)).toBe(0);
  });
  it('ignores the two obsolete HTTP-date forms (RFC 850, asctime): they cost the size budget and no server sends them', () => {
    expect(parseRetryAfter('Wednesday, 01-Jan-25 12:00:30 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Wed Jan  1 12:00:30 2025', now)).toBeUndefined();
  });
  it('reads an IMF-fixdate only when it names the right weekday (it must read back as written)', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2025 12:00:30 GMT', now)).toBeUndefined();
  });
  it('ignores absent or invalid values: they never add a wait', () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
  it.each([
    '1.5',
    '-5',
    '+5',
    '1e3',
    '0x10',
    ' 5',
    '2025-01-01T12:00:30Z',
    'Jan 1 2025',
    'Wed, 1 Jan 2025 12:00:30 GMT',
    'Wed, 01 Jan 2025 12:00:30 UTC',
    'Wed, 01 Jan 2025 12:00:30',
    'wed, 01 Jan 2025 12:00:30 GMT',
    'Wednesday, 01-Jan-2025 12:00:30 GMT',
    'Wed Jan 1 12:00:30 2025',
    'Wed, 01 Foo 2025 12:00:30 GMT',
  ])('is strict: %j is neither delay-seconds nor an HTTP-date, so it is ignored', (value) => {
    // Date.parse alone reads most of these (`1.5` is a day in 2001): none may pass.
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
