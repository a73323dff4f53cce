import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (signals as 128 + n are not expected here). */
  exited: Promise<number | null>;
  /** Resolves once stdout or stderr contains `text`. */
  waitFor(stream: 'stdout' | 'stderr', text: string | RegExp): Promise<string>;
}

export interface RunOptions {
  /** Start it under `ulimit -n <n>` (soft and hard, so node cannot raise it). */
  openFiles?: number;
}

/** Spawns the built `ssekit` bin, as a user's shell would (stdout piped, so not a TTY). */
export function run(args: string[], env: Record<string, string> = {}, options: RunOptions = {}): Run {
  const childEnv = { ...process.env, NO_COLOR: '1', ...env };
  const child =
    options.openFiles === undefined
      ? spawn(process.execPath, [CLI, ...args], { env: childEnv })
      : // exec: the shell becomes node, so the pid (and its signals) are the server's.
        spawn(
          'sh',
          ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, CLI, ...args],
          {
            env: childEnv,
          },
        );
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    wake();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(stream, text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const value = stream === 'stdout' ? out : err;
          const hit = typeof text === 'string' ? value.includes(text) : text.test(value);
          if (hit) return resolve(value);
          if (child.exitCode !== null)
            return reject(new Error(`exited (${child.exitCode}) before ${String(text)}:\n${err}`));
          waiters.push(check);
        };
        exited.then(check);
        check();
      });
    },
  };
}
