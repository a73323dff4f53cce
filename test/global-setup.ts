/**
 * Runs once before any test file: makes sure `dist/` is built and newer than the sources, since
 * the examples (`examples/*`) import `ssekit/...` the way a user would, through the package's
 * `exports`, which point into `dist/`. Building here, before the workers start, means no test
 * file ever sees `dist/` half rewritten. A fresh `dist/` is left alone (no cost).
 */
import { build, distIsStale } from '../scripts/dist.mjs';

export default async function setup(): Promise<void> {
  if (!distIsStale()) return;
  console.log('[global-setup] dist/ is missing or older than src/: building it (tsup)');
  await build();
}
