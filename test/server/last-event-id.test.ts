import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLastEventIdError, type LastEventIdError, readLastEventId } from '../../src/server/index.js';

function request(url: string, lastEventId?: string): Request {
  const headers = new Headers();
  if (lastEventId !== undefined) headers.set('last-event-id', lastEventId);
  return new Request(url, { headers });
}

/** A header value as Fetch exposes it: the UTF-8 bytes, one char per byte. */
function byteString(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

function thrown(fn: () => unknown): LastEventIdError {
  try {
    fn();
  } catch (error) {
    if (isLastEventIdError(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('readLastEventId', () => {
  it('reads the header, then the query parameter; the header wins', () => {
    expect(readLastEventId(request('http://x/s', '42'))).toBe('42');
    expect(readLastEventId(request('http://x/s?lastEventId=7'))).toBe('7');
    expect(readLastEventId(request('http://x/s?lastEventId=7', '42'))).toBe('42');
    expect(readLastEventId(request('http://x/s?lastEventId=a%20b#frag'))).toBe('a b');
    expect(readLastEventId(request('http://x/s?since=9'), { queryParam: 'since' })).toBe('9');
    expect(readLastEventId(request('http://x/s?lastEventId=7'), { queryParam: false })).toBeUndefined();
  });

  it('treats absent and empty values as none', () => {
    expect(readLastEventId(request('http://x/s'))).toBeUndefined();
    expect(readLastEventId(request('http://x/s?lastEventId='))).toBeUndefined();
    expect(readLastEventId(request('http://x/s', ''))).toBeUndefined();
  });

  it('decodes the UTF-8 bytes EventSource sends', () => {
    expect(readLastEventId(request('http://x/s', byteString('événement-✓-𝄞')))).toBe('événement-✓-𝄞');
    expect(readLastEventId(request('http://x/s?lastEventId=%C3%A9'))).toBe('é');
  });

  it('refuses malformed UTF-8 in the header', () => {
    expect(readLastEventId(request('http://x/s', '\xe9t\xe9'))).toBeUndefined();
    expect(thrown(() => readLastEventId(request('http://x/s', '\xff'), { invalidId: 'throw' })).type).toBe(
      'invalid-utf8',
    );
  });

  it('refuses lone surrogates from a non-Fetch request object', () => {
    const like = { url: '/s', headers: { get: () => 'a\uD800b' } };
    expect(readLastEventId(like)).toBeUndefined();
    expect(thrown(() => readLastEventId(like, { invalidId: 'throw' })).type).toBe('invalid-utf8');
  });

  it.each([
    ['NUL', 'a%00b'],
    ['LF', 'a%0Ab'],
    ['CR', 'a%0Db'],
    ['TAB', 'a%09b'],
    ['ESC', '%1B%5B31m'],
    ['DEL', 'a%7Fb'],
    ['C1 NEL', 'a%C2%85b'],
  ])('refuses a %s control character', (_name, encoded) => {
    const req = request(`http://x/s?lastEventId=${encoded}`);
    expect(readLastEventId(req)).toBeUndefined();
    expect(thrown(() => readLastEventId(req, { invalidId: 'throw' })).type).toBe('control-character');
  });

  it('refuses a control character in the header too', () => {
    const req = request('http://x/s', 'a\x1bb');
    expect(thrown(() => readLastEventId(req, { invalidId: 'throw' })).type).toBe('control-character');
  });

  it('limits the length, and refuses a huge header before decoding it', () => {
    expect(readLastEventId(request('http://x/s', 'a'.repeat(256)))).toBe('a'.repeat(256));
    expect(readLastEventId(request('http://x/s', 'a'.repeat(257)))).toBeUndefined();
    expect(readLastEventId(request('http://x/s', 'a'.repeat(20)), { maxLength: 10 })).toBeUndefined();
    const huge = { url: '/s', headers: { get: () => '\xc3\xa9'.repeat(500_000) } };
    expect(thrown(() => readLastEventId(huge, { invalidId: 'throw' })).type).toBe('too-long');
    const longQuery = request(`http://x/s?lastEventId=${'b'.repeat(300)}`);
    expect(thrown(() => readLastEventId(longQuery, { invalidId: 'throw' })).type).toBe('too-long');
  });

  it('checks maxLength like every numeric option (a positive integer)', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => readLastEventId(request('http://x/s', 'a'), { maxLength: bad })).toThrow(RangeError);
    }
  });

  it('never returns a control character, a lone surrogate or more than maxLength (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.integer({ min: 1, max: 30 }),
        (raw, max) => {
          const like = { url: `/s?lastEventId=${encodeURIComponent(raw.replace(/[\uD800-\uDFFF]/g, ''))}` };
          for (const req of [
            { ...like, headers: { get: () => raw } },
            { ...like, headers: { get: () => null } },
          ]) {
            const id = readLastEventId(req, { maxLength: max });
            if (id === undefined) continue;
            expect(id.length).toBeLessThanOrEqual(max);
            expect(/\p{Cc}/u.test(id)).toBe(false);
            expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(id)).toBe(
              false,
            );
          }
        },
      ),
      { seed: 20260501, numRuns: 500 },
    );
  });

  it('round-trips every acceptable id through the header as EventSource would send it (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), (id) => {
        fc.pre(!/\p{Cc}/u.test(id) && id.trim() === id);
        expect(readLastEventId(request('http://x/s', byteString(id)))).toBe(id);
        expect(readLastEventId(request(`http://x/s?lastEventId=${encodeURIComponent(id)}`))).toBe(id);
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
