/** Bits shared by the `ssekit` subcommands. */
import { type ParseArgsConfig, parseArgs } from 'node:util';

declare const __SSEKIT_VERSION__: string;
export const VERSION: string = typeof __SSEKIT_VERSION__ === 'string' ? __SSEKIT_VERSION__ : '0.0.0';

/** A usage error: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError' as const;
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * `parseArgs` (strict, positionals allowed) with its refusals in our words, one line each, as
 * {@link UsageError}s: node's own text is long, and `--history -1` gets "argument is
 * ambiguous". Here a value may start with a dash (`--history -1` is the value `-1`, which the
 * flag's own check then refuses, naming the range; `--last-event-id -5` is an id), unless it
 * is one of the command's own flags (`--history --port 80` lacks a value).
 */
export function parseFlags<const O extends FlagOptions>(args: string[], options: O) {
  // A lenient pass reads the tokens (unknown flags and dash values included) to check them
  // here; the strict pass then types the values, over arguments rewritten as `--name=value`.
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const flags = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    flags.add(`--${name}`);
    if (option.short !== undefined) flags.add(`-${option.short}`);
  }
  const rewritten: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') rewritten.push(token.value);
    else if (token.kind === 'option-terminator') rewritten.push('--');
    else {
      const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
      if (option === undefined) {
        throw new UsageError(`unknown option ${token.rawName}${suggestion(token.rawName, flags)}`);
      }
      if (option.type === 'boolean') {
        if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
        rewritten.push(`--${token.name}`);
      } else {
        if (token.value === undefined || (!token.inlineValue && flags.has(token.value))) {
          throw new UsageError(`${token.rawName} needs a value`);
        }
        rewritten.push(`--${token.name}=${token.value}`);
      }
    }
  }
  return parseArgs({ args: rewritten, options, allowPositionals: true, strict: true });
}

/** ` (did you mean --history?)` for a near miss (a typo, or a prefix), else nothing. */
function suggestion(given: string, flags: ReadonlySet<string>): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const flag of flags) {
    if (!flag.startsWith('--') || !given.startsWith('--')) continue;
    const distance = flag.startsWith(given) ? 1 : editDistance(given, flag);
    if (distance < bestDistance) [best, bestDistance] = [flag, distance];
  }
  return best === undefined ? '' : ` (did you mean ${best}?)`;
}

/** Levenshtein distance; flags are short, so the quadratic table is nothing. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The URL of a command's argument; anything but http(s) is a usage error. */
export function httpUrl(command: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${command} needs an http:// or https:// URL, not ${url.protocol}`);
  }
  return url;
}

// fetch's system-level failures, in words. Codes are node's (libuv) and undici's.
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed by the server',
  UND_ERR_SOCKET: 'connection closed by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Why a request never got through, in a few words: `connection refused`, `host not found`...
 * fetch reports every failure as `TypeError: fetch failed`, the system error in its `cause`
 * (an AggregateError when several addresses were tried), and the client wraps that once more.
 */
export function networkReason(error: unknown): string {
  let deepest = '';
  let e: unknown = error;
  for (let depth = 0; depth < 8 && e instanceof Error; depth++) {
    const first = e instanceof AggregateError ? (e.errors[0] as unknown) : undefined;
    const code = (e as { code?: unknown }).code ?? (first as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') {
      const reason = NETWORK_REASONS[code];
      if (reason !== undefined) return reason;
      if (/CERT|TLS|SSL/.test(code)) return `TLS: ${e.message}`;
    }
    if (e.message) deepest = e.message;
    e = e.cause ?? first;
  }
  return deepest || String(error);
}

/** Parses repeated `-H 'Name: value'` options. */
export function parseHeaders(values: readonly string[] | undefined): Headers {
  const headers = new Headers();
  for (const value of values ?? []) {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new UsageError(`bad header ${JSON.stringify(value)}: expected "Name: value"`);
    try {
      headers.append(value.slice(0, colon).trim(), value.slice(colon + 1).trim());
    } catch (error) {
      throw new UsageError(`bad header ${JSON.stringify(value)}: ${(error as Error).message}`);
    }
  }
  return headers;
}

/** ANSI colours, only when the stream is a terminal and NO_COLOR is unset (no-color.org). */
export function painter(stream: NodeJS.WriteStream): (code: number, text: string) => string {
  const on = stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return (code, text) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);
}

/** One line on stderr, prefixed, so it never mixes with the data on stdout. */
export function note(text: string): void {
  process.stderr.write(`ssekit: ${text}\n`);
}

/** Writes to stdout respecting backpressure (`write` returning false waits for `drain`). */
export function out(text: string): Promise<void> {
  if (process.stdout.write(text)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', resolve));
}
