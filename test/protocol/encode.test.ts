import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EncodeError,
  encodeEvent,
  encodeEventBytes,
  isEncodeError,
  isProtocolError,
  type OutgoingEvent,
} from '../../src/index.js';
import { encodeIdData } from '../../src/protocol/encode.js';
import { FC, value } from './arbitraries.js';
import { parseChunks } from './helpers.js';

function expectEncodeError(event: OutgoingEvent, type: EncodeError['type']) {
  let caught: unknown;
  try {
    encodeEvent(event);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EncodeError);
  expect(isEncodeError(caught)).toBe(true);
  expect(isProtocolError(caught)).toBe(true);
  expect((caught as EncodeError).type).toBe(type);
}

describe('encodeEvent', () => {
  it('writes fields in a fixed order and ends with a blank line', () => {
    expect(encodeEvent({ data: 'hi', event: 'greet', id: '1', retry: 500 })).toBe(
      'retry: 500\nid: 1\nevent: greet\ndata: hi\n\n',
    );
  });

  it('splits data on LF, CR and CRLF into one data line each', () => {
    expect(encodeEvent({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(encodeEvent({ data: '' })).toBe('data: \n\n');
    expect(encodeEvent({ data: '\n' })).toBe('data: \ndata: \n\n');
  });

  it('keeps a value that starts with a space intact', () => {
    const wire = encodeEvent({ data: ' lead', event: ' e' });
    expect(parseChunks([wire])).toEqual([{ kind: 'event', event: { event: ' e', data: ' lead', id: '' } }]);
  });

  it('writes a multi-line comment as a comment on every line, without a blank line', () => {
    expect(encodeEvent({ comment: 'one\ntwo\r\nthree' })).toBe(': one\n: two\n: three\n');
    expect(parseChunks([encodeEvent({ comment: 'x\ndata: forged' })])).toEqual([
      { kind: 'comment', text: 'x' },
      { kind: 'comment', text: 'data: forged' },
    ]);
  });

  it('writes an empty id so that the receiver resets its last id', () => {
    expect(parseChunks([encodeEvent({ id: '1', data: 'a' }), encodeEvent({ id: '', data: 'b' })])).toEqual([
      { kind: 'event', event: { event: 'message', data: 'a', id: '1' } },
      { kind: 'event', event: { event: 'message', data: 'b', id: '' } },
    ]);
  });

  it('refuses CR or LF in event', () => {
    expectEncodeError({ event: 'a\ndata: forged', data: 'x' }, 'invalid-event');
    expectEncodeError({ event: 'a\r', data: 'x' }, 'invalid-event');
  });

  it('refuses CR, LF or NUL in id', () => {
    expectEncodeError({ id: '1\nevent: forged', data: 'x' }, 'invalid-id');
    expectEncodeError({ id: '1\r', data: 'x' }, 'invalid-id');
    expectEncodeError({ id: '1\0', data: 'x' }, 'invalid-id');
  });

  it('refuses CR, LF or NUL anywhere in an id, short or long, and takes one of 64 characters or more without them', () => {
    for (const length of [1, 2, 63, 64, 65, 200]) {
      for (const at of [0, Math.floor((length - 1) / 2), length - 1]) {
        for (const bad of ['\n', '\r', '\0']) {
          const id = 'a'.repeat(at) + bad + 'a'.repeat(length - at - 1);
          expectEncodeError({ id, data: 'x' }, 'invalid-id');
        }
      }
      const id = '1-'.repeat(length).slice(0, length);
      expect(encodeEvent({ id, data: 'x' })).toBe(`id: ${id}\ndata: x\n\n`);
    }
  });

  it('refuses a retry that is not a non-negative integer', () => {
    for (const retry of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expectEncodeError({ retry }, 'invalid-retry');
    }
    expectEncodeError({ retry: '5' as unknown as number }, 'invalid-retry');
    expect(encodeEvent({ retry: 0 })).toBe('retry: 0\n\n');
  });

  it('refuses values that are not strings', () => {
    expectEncodeError({ data: 5 as unknown as string }, 'invalid-field');
    expectEncodeError({ event: {} as unknown as string, data: 'x' }, 'invalid-field');
    expectEncodeError({ id: 1 as unknown as string }, 'invalid-field');
    expectEncodeError({ comment: null as unknown as string }, 'invalid-field');
  });

  it('encodes to UTF-8 bytes', () => {
    const bytes = encodeEventBytes({ data: '\u20ac' });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(bytes)).toBe('data: \u20ac\n\n');
  });
});

describe('round trip', () => {
  const safe = value.filter((v) => !v.includes('\0'));
  const anyData = fc
    .array(fc.oneof(value, fc.constantFrom('\n', '\r', '\r\n')), { maxLength: 8 })
    .map((xs) => xs.join(''));
  const outgoing = fc.record(
    {
      event: value,
      data: anyData,
      id: safe,
      retry: fc.nat(),
      comment: anyData,
    },
    { requiredKeys: ['data'] },
  );

  it('parsing an encoded event gives it back (line ends in data become LF)', () => {
    fc.assert(
      fc.property(fc.array(outgoing, { maxLength: 6 }), (list) => {
        const records = parseChunks([list.map(encodeEvent).join('')]);
        const got = records.filter((r) => r.kind === 'event').map((r) => (r as { event: unknown }).event);
        let lastId = '';
        const want = list.map((e) => {
          if (e.id !== undefined) lastId = e.id;
          return { event: e.event || 'message', data: e.data!.replace(/\r\n?/g, '\n'), id: lastId };
        });
        expect(got).toEqual(want);
        const retries = records.filter((r) => r.kind === 'retry').map((r) => (r as { ms: number }).ms);
        expect(retries).toEqual(list.filter((e) => e.retry !== undefined).map((e) => e.retry));
      }),
      FC,
    );
  });

  it('bytes parse the same as text', () => {
    fc.assert(
      fc.property(outgoing, (e) => {
        expect(parseChunks([encodeEventBytes(e)])).toEqual(parseChunks([encodeEvent(e)]));
      }),
      FC,
    );
  });
});

describe('encodeIdData (the replies reader fast path)', () => {
  const outcome = (f: () => string): { text: string } | { error: string } => {
    try {
      return { text: f() };
    } catch (error) {
      return { error: (error as EncodeError).type };
    }
  };
  const anyText = fc.oneof(
    value,
    fc
      .array(fc.oneof(value, fc.constantFrom('\n', '\r', '\r\n', '\0')), { maxLength: 5 })
      .map((p) => p.join('')),
    fc.string({ minLength: 60, maxLength: 80 }),
  );

  it('writes what encodeEvent writes for { id, data }, or throws what it throws', () => {
    fc.assert(
      fc.property(anyText, anyText, (id, data) => {
        expect(outcome(() => encodeIdData(id, data))).toEqual(outcome(() => encodeEvent({ id, data })));
      }),
      FC,
    );
    for (const [id, data] of [
      ['1765000000000-12', 't42'],
      ['', 'x'],
      ['1-0', 'a\nb'],
      ['1-0', 'a\rb'],
      ['1-0', ''],
      ['a\nb', 'x'],
      ['a\0b', 'x'],
      [`${'9'.repeat(70)}\n`, 'x'],
    ] as const) {
      expect(outcome(() => encodeIdData(id, data))).toEqual(outcome(() => encodeEvent({ id, data })));
    }
    expect(encodeIdData('1765000000000-12', 't42')).toBe('id: 1765000000000-12\ndata: t42\n\n');
    expect(() => encodeIdData('a\nb', 'x')).toThrow(EncodeError);
  });
});
