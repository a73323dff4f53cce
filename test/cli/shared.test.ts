import { describe, expect, it } from 'vitest';
import { networkReason, parseFlags, UsageError } from '../../src/cli/shared.js';
import { NetworkError } from '../../src/client/errors.js';

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });
/** What fetch and the client throw for a failed connection: the system error two causes down. */
const fetchFailure = (cause: unknown) =>
  new NetworkError('network error', { cause: new TypeError('fetch failed', { cause }) });

describe('networkReason', () => {
  it('names the system error under fetch\'s "fetch failed", an AggregateError of addresses included', () => {
    expect(networkReason(fetchFailure(coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED')))).toBe(
      'connection refused',
    );
    const both = new AggregateError([coded('connect ECONNREFUSED ::1:1', 'ECONNREFUSED')], '');
    expect(networkReason(fetchFailure(both))).toBe('connection refused');
    expect(networkReason(fetchFailure(coded('getaddrinfo ENOTFOUND x.invalid', 'ENOTFOUND')))).toBe(
      'host not found',
    );
    expect(networkReason(fetchFailure(coded('certificate has expired', 'CERT_HAS_EXPIRED')))).toBe(
      'TLS: certificate has expired',
    );
  });

  it('falls back to the deepest message, never the wrappers', () => {
    expect(networkReason(fetchFailure(new Error('unknown scheme')))).toBe('unknown scheme');
    expect(networkReason('odd')).toBe('odd');
  });
});

describe('parseFlags', () => {
  const options = {
    port: { type: 'string', short: 'p' },
    header: { type: 'string', short: 'H', multiple: true },
    verbose: { type: 'boolean', short: 'v' },
  } as const;

  it('reads what parseArgs reads: short and long, repeated, inline values, positionals after --', () => {
    const { values, positionals } = parseFlags(
      ['-p', '80', '-H', 'a: 1', '--header=b: 2', '-v', 'x', '--', '--port'],
      options,
    );
    expect(values).toEqual({ port: '80', header: ['a: 1', 'b: 2'], verbose: true });
    expect(positionals).toEqual(['x', '--port']);
  });

  it('takes a value that starts with a dash, unless it is one of the flags', () => {
    expect(parseFlags(['--port', '-1'], options).values.port).toBe('-1');
    expect(parseFlags(['-p', '-x'], options).values.port).toBe('-x');
    expect(() => parseFlags(['--port', '--verbose'], options)).toThrow(
      new UsageError('--port needs a value'),
    );
    expect(() => parseFlags(['--port', '-v'], options)).toThrow(new UsageError('--port needs a value'));
  });

  it('refuses in one short line each', () => {
    const refusal = (args: string[]) => {
      try {
        parseFlags(args, options);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal(['--prot', '1'])).toBe('unknown option --prot (did you mean --port?)');
    expect(refusal(['--verb'])).toBe('unknown option --verb (did you mean --verbose?)');
    expect(refusal(['--colour'])).toBe('unknown option --colour');
    expect(refusal(['-q'])).toBe('unknown option -q');
    expect(refusal(['--verbose=1'])).toBe('--verbose takes no value');
    expect(refusal(['--port'])).toBe('--port needs a value');
  });
});
