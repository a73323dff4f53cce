/** Bits shared by the `ssekit` subcommands. */

declare const __SSEKIT_VERSION__: string;
export const VERSION: string = typeof __SSEKIT_VERSION__ === 'string' ? __SSEKIT_VERSION__ : '0.0.0';

/** A usage error: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError' as const;
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
