// Which built ssekit a bench loads: this checkout's dist/, or, for the contender 'ssekit-base',
// another build named on the command line (`--baseline DIR`, a dist/ from before a change), so
// a before/after runs in one process tree, interleaved, on the same machine at the same time.
// The parent reads the flag (baselineDir) and hands the directory to its children in the
// environment (childEnv); a child asks loadDist for a file of one or the other build.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { option } from './options.mjs';
import { median } from './stats.mjs';

/** The contender name of the baseline build, in every bench's tables. */
export const BASELINE = 'ssekit-base';
const ENV = 'SSEKIT_BASELINE_DIST';

/**
 * The parent's `--baseline DIR`, absolute, or undefined without the flag. Checked here, so a
 * missing build stops the run before any child starts, not halfway through a round.
 */
export function baselineDir() {
  const dir = option('--baseline', undefined);
  if (dir === undefined) return undefined;
  if (!dir || dir.startsWith('--')) throw new Error('--baseline needs a directory (a built dist/)');
  const abs = resolve(dir);
  if (!existsSync(join(abs, 'hub.js'))) {
    throw new Error(`--baseline ${dir}: no hub.js in ${abs}; build that checkout first (npx tsup)`);
  }
  return abs;
}

/** The environment for a child: the parent's, plus where the baseline build is (when there is one). */
export function childEnv(dir, extra = {}) {
  return dir === undefined ? { ...process.env, ...extra } : { ...process.env, ...extra, [ENV]: dir };
}

/**
 * Imports `file` (e.g. 'hub.js') of this checkout's dist/, or of the baseline's when `base`.
 * Both builds' chunks stay apart: each file imports its siblings in its own directory.
 */
export function loadDist(file, base = false) {
  if (!base) return import(new URL(`../../dist/${file}`, import.meta.url).href);
  const dir = process.env[ENV];
  if (!dir) throw new Error(`${BASELINE}: ${ENV} is not set (the parent's --baseline DIR)`);
  return import(pathToFileURL(join(dir, file)).href);
}

/**
 * One line of before/after ratios: `label: key ratio [lowest-highest round], ...`, each the ratio
 * of the medians (as in the table) and, in brackets, the spread of the per-round ratios (rounds
 * paired by index), which says how much of a difference is noise.
 *
 * @param {string} label
 * @param {{key: string, runs: number[], baseRuns: number[]}[]} metrics
 */
export function ratioLine(label, metrics) {
  const parts = metrics.map(({ key, runs, baseRuns }) => {
    const ratio = median(runs) / median(baseRuns);
    const rounds = runs
      .map((v, i) => v / baseRuns[i])
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const spread =
      rounds.length > 1 ? ` [${rounds[0].toFixed(2)}-${rounds[rounds.length - 1].toFixed(2)}]` : '';
    return `${key} ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}x${spread}`;
  });
  return `${label}: ${parts.join(', ')}`;
}
