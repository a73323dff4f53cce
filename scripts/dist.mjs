// Whether dist/ is older than what it is built from, and a build when it is. Used by the test
// run's global setup (the full build: the examples import `ssekit/...` through the package's
// `exports`, and the package tests read the declarations) and by `npm start` (`--js`: the demo
// runs the ES modules only, so it does not wait for the declarations, which take most of a
// build's time). A fresh dist/ is left alone.
//
//   node scripts/dist.mjs        build everything if stale
//   node scripts/dist.mjs --js   build the ES modules only, if they are stale
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @param {string} path */
function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * Every file the package's `exports` and `bin` point at (the build's outputs); with `js`, the ES
 * modules only.
 * @param {{ js?: boolean }} [options]
 * @returns {string[]}
 */
export function exportTargets(options = {}) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  /** @type {Set<string>} */
  const targets = new Set();
  /** @param {unknown} value */
  const walk = (value) => {
    if (typeof value === 'string') {
      const esm = value.endsWith('.js');
      if (value.startsWith('./dist/') && (esm || !options.js)) targets.add(join(root, value));
    } else if (typeof value === 'object' && value !== null) {
      for (const inner of Object.values(value)) walk(inner);
    }
  };
  walk(pkg.exports);
  if (pkg.bin) walk(pkg.bin);
  return [...targets];
}

/**
 * Whether dist/ lacks an export target or is older than an input of the build.
 * @param {{ js?: boolean }} [options]
 */
export function distIsStale(options = {}) {
  const targets = exportTargets(options);
  if (targets.some((target) => !existsSync(target))) return true;
  const built = Math.min(...targets.map((target) => statSync(target).mtimeMs));
  const inputs = Math.max(
    newestMtime(join(root, 'src')),
    newestMtime(join(root, 'tsup.config.ts')),
    newestMtime(join(root, 'package.json')),
  );
  return inputs > built;
}

/**
 * Runs tsup (declarations too unless `js`); rejects with its output when it fails.
 * @param {{ js?: boolean }} [options]
 * @returns {Promise<void>}
 */
export function build(options = {}) {
  return new Promise((resolve, reject) => {
    const env = options.js ? { ...process.env, SSEKIT_BUILD_JS_ONLY: '1' } : process.env;
    const cli = join(root, 'node_modules/tsup/dist/cli-default.js');
    const child = spawn(process.execPath, [cli], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tsup failed (${code ?? signal}):\n${output}`));
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const js = process.argv.includes('--js');
  if (distIsStale({ js })) {
    const started = Date.now();
    console.log(`building dist/${js ? ' (ES modules only)' : ''}...`);
    await build({ js });
    console.log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
