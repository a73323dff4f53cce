/**
 * Bun and Deno for the runtime tests: the Bun and Deno examples, and `ssekit/client` running
 * inside each runtime. Both come from the npm registry (`npm install bun deno`; `.ci/run` puts
 * them in `.ci/tools/` when the machine has neither), never from a download script.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type Runtime = 'bun' | 'deno';

/** The runtime's binary: $SSEKIT_BUN / $SSEKIT_DENO, then PATH, then node_modules/.bin. */
export function findRuntime(name: Runtime): string | undefined {
  const fromEnv = process.env[`SSEKIT_${name.toUpperCase()}`];
  if (fromEnv) return fromEnv;
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    join(ROOT, 'node_modules', '.bin'),
    join(ROOT, '.ci', 'tools', 'node_modules', '.bin'),
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The binary, or undefined after a visible skip message. With SSEKIT_REQUIRE_SERVICES set (CI),
 * a missing runtime fails instead.
 */
export function runtimeAvailable(name: Runtime, what: string): string | undefined {
  const found = findRuntime(name);
  if (found) return found;
  const how = `npm install --no-save ${name}, or set SSEKIT_${name.toUpperCase()}`;
  if (process.env.SSEKIT_REQUIRE_SERVICES) {
    throw new Error(`${what}: ${name} not found and SSEKIT_REQUIRE_SERVICES is set (${how})`);
  }
  console.warn(`\n*** SKIPPING ${what}: ${name} not found (${how}) ***\n`);
  return undefined;
}

/** How each runtime runs a module file (Deno needs its permissions spelled out). */
export function runArgs(name: Runtime, file: string): string[] {
  return name === 'bun' ? [file] : ['run', '--allow-net', '--allow-env', '--allow-read', file];
}

export interface Started {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts an example server under the runtime on an ephemeral port and resolves with the URL it
 * prints. Rejects if it exits or prints nothing within `timeoutMs`.
 */
export function startExample(
  binary: string,
  name: Runtime,
  file: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Started> {
  const child = spawn(binary, runArgs(name, file), {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} ${file} printed no URL in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(output)?.[0];
      if (url) {
        clearTimeout(timer);
        resolve({ url, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} ${file} exited with ${code}:\n${output}`));
    });
  });
}

/** Runs a script under the runtime to completion; resolves with its stdout. */
export function runScript(binary: string, name: Runtime, file: string, args: string[], timeoutMs = 30_000) {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(binary, [...runArgs(name, file), ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${name} ${file} ended with ${code ?? signal}:\n${err}\n${out}`));
    });
  });
}
