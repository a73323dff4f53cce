/**
 * Builds (when needed) and starts the Next.js example in production mode, `next build && next
 * start`, on an ephemeral port bound to 127.0.0.1, and stops it again by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const appDir = join(repoRoot, 'examples/next');
const nextBin = join(repoRoot, 'node_modules/next/dist/bin/next');

// vitest sets NODE_ENV=test, which next refuses to build with; production is what this is.
const env: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' };

// What a build depends on, besides the example's own files: ssekit's build and Next's version.
const OUTSIDE_INPUTS = ['dist', 'package.json', 'package-lock.json'];
const SKIPPED = new Set(['.next', 'node_modules', 'next-env.d.ts', 'tsconfig.tsbuildinfo']);

function newestMtime(path: string, top = true): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (top && SKIPPED.has(entry)) continue;
    newest = Math.max(newest, newestMtime(join(path, entry), false));
  }
  return newest;
}

/** Whether `.next` holds a production build newer than everything it was built from. */
export function buildIsFresh(): boolean {
  const buildId = join(appDir, '.next/BUILD_ID');
  if (!existsSync(buildId)) return false;
  const inputs = Math.max(
    newestMtime(appDir),
    ...OUTSIDE_INPUTS.map((p) => join(repoRoot, p))
      .filter((p) => existsSync(p))
      .map((p) => newestMtime(p, false)),
  );
  return statSync(buildId).mtimeMs > inputs;
}

function collect(child: ChildProcess, into: string[]): void {
  const onData = (chunk: Buffer) => into.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
}

// Test files run in parallel workers and share the example's `.next`: one builds at a time (a
// directory is created atomically or not at all). A lock older than any build is a crashed
// run's and is taken over.
const BUILD_LOCK = join(
  tmpdir(),
  `ssekit-next-build-${createHash('sha256').update(appDir).digest('hex').slice(0, 16)}.lock`,
);
const STALE_LOCK_MS = 5 * 60_000;
const LOCK_WAIT_MS = 4 * 60_000;

async function lockBuild(): Promise<() => void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      return () => rmSync(BUILD_LOCK, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - statSync(BUILD_LOCK).mtimeMs > STALE_LOCK_MS) {
        rmSync(BUILD_LOCK, { recursive: true, force: true });
        continue;
      }
    } catch {
      continue; // released meanwhile
    }
    if (Date.now() > deadline) throw new Error(`another test file held ${BUILD_LOCK} for too long`);
    await sleep(200);
  }
}

/** Runs `next build` unless a fresh build is there. Returns whether it built. */
export async function buildApp(): Promise<boolean> {
  const release = await lockBuild();
  try {
    return await buildUnlocked();
  } finally {
    release();
  }
}

async function buildUnlocked(): Promise<boolean> {
  if (buildIsFresh()) return false;
  const output: string[] = [];
  const child = spawn(process.execPath, [nextBin, 'build'], {
    cwd: appDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(child, output);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, s) => resolve([c, s]));
  });
  if (code !== 0) throw new Error(`next build failed (${code ?? signal}):\n${output.join('\n')}`);
  return true;
}

export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every line the server has printed so far (stdout and stderr). */
  log: string[];
  stop(): Promise<void>;
}

/**
 * Starts `next start` on 127.0.0.1, port 0, and resolves once it prints where it listens.
 * `extraEnv` adds to its environment (e.g. `REDIS_URL`).
 */
export async function startApp(extraEnv: NodeJS.ProcessEnv = {}): Promise<RunningApp> {
  const log: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [nextBin, 'start', '-H', '127.0.0.1', '-p', '0'], {
    cwd: appDir,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(child, log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  };

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`next start did not report a port:\n${log.join('\n')}`)),
        30_000,
      );
      const check = () => {
        for (const line of log) {
          const match = /Local:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (match) {
            clearTimeout(timer);
            child.stdout?.off('data', check);
            resolve(match[1]!);
            return;
          }
        }
      };
      child.stdout?.on('data', check);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`next start exited (${code}):\n${log.join('\n')}`)));
    });
    return { url, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
