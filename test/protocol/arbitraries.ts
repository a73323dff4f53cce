import fc from 'fast-check';

/** Seeded so that every run checks the same cases; override with FC_SEED to explore. */
export const FC = { seed: Number(process.env.FC_SEED ?? 20261124), numRuns: 300 } as const;

const valueChar = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a', 'b', 'z', '0', '9', ' ', ':', '{', '"', '}') },
  { weight: 2, arbitrary: fc.constantFrom('\u00e9', '\u20ac', '\u{1F600}', '\u4e16', '\uFEFF', '\t') },
  { weight: 1, arbitrary: fc.constantFrom('\0', '\uFFFD') },
);
/** A field value: never a line end. */
export const value = fc.array(valueChar, { maxLength: 24 }).map((cs) => cs.join(''));

const lineEnd = fc.constantFrom('\n', '\r', '\r\n');
const field = fc.constantFrom(
  'data',
  'data',
  'data',
  'data',
  'event',
  'id',
  'id',
  'retry',
  'foo',
  'Data',
  '',
);
const separator = fc.constantFrom(':', ': ', ':  ', '');

const line = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(field, separator, value).map(([f, s, v]) => (s === '' ? f : f + s + v)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{1,6}$/).map((d) => `retry: ${d}`) },
  { weight: 1, arbitrary: value.map((v) => `:${v}`) },
  { weight: 1, arbitrary: fc.constant('') },
);

/** A block: a few lines, then usually the blank line that dispatches it. */
const block = fc
  .tuple(fc.array(fc.tuple(line, lineEnd), { minLength: 1, maxLength: 5 }), fc.boolean(), lineEnd)
  .map(([lines, open, end]) => lines.map(([l, e]) => l + e).join('') + (open ? '' : end));

/** A whole event stream: random blocks, random line ends, sometimes a BOM in front. */
export const eventStream = fc
  .tuple(fc.boolean(), fc.array(block, { maxLength: 12 }))
  .map(([bom, blocks]) => (bom ? '\uFEFF' : '') + blocks.join(''));

/** Sorted cut positions in [0, length]. */
export function cuts(length: number) {
  return fc
    .uniqueArray(fc.integer({ min: 0, max: length }), { maxLength: 20 })
    .map((xs) => xs.sort((a, b) => a - b));
}
