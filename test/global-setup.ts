/**
 * Runs once before any test file: makes sure `dist/` is built and newer than the sources, since
 * the examples (`examples/*`) import `ssekit/...` the way a user would, through the package's
 * `exports`, which point into `dist/`. Building here, before the workers start, means no test
 * file ever sees `dist/` half rewritten. A fresh `dist/` is left alone (no cost).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Every file the package's `exports` point at (the build's outputs). */
function exportTargets(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: unknown };
  const targets = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.startsWith('./dist/')) targets.add(join(root, value));
    } else if (typeof value === 'object' && value !== null) {
      for (const inner of Object.values(value)) walk(inner);
    }
  };
  walk(pkg.exports);
  return [...targets];
}

/** Whether `dist/` lacks an export target or is older than an input of the build. */
export function distIsStale(): boolean {
  const targets = exportTargets();
  if (targets.some((target) => !existsSync(target))) return true;
  const built = Math.min(...targets.map((target) => statSync(target).mtimeMs));
  const inputs = Math.max(
    newestMtime(join(root, 'src')),
    newestMtime(join(root, 'tsup.config.ts')),
    newestMtime(join(root, 'package.json')),
  );
  return inputs > built;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${output}`));
    });
  });
}

export default async function setup(): Promise<void> {
  if (!distIsStale()) return;
  console.log('[global-setup] dist/ is missing or older than src/: building it (tsup)');
  await run(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js')]);
}
