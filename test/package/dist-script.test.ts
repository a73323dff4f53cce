/**
 * scripts/dist.mjs: what `npm start` waits for. With `--js` only the ES modules count (the demo
 * runs them; the declarations are most of a build's time); without it, every export target.
 */
import { describe, expect, it } from 'vitest';
import { distIsStale, exportTargets } from '../../scripts/dist.mjs';

describe('scripts/dist.mjs', () => {
  it('--js counts the ES modules of every export and of the bin, nothing else', () => {
    const js = exportTargets({ js: true });
    expect(js.length).toBeGreaterThan(5);
    expect(js.every((file) => file.endsWith('.js'))).toBe(true);
    expect(js.some((file) => file.endsWith('/dist/cli.js'))).toBe(true);
    const all = exportTargets();
    expect(all.some((file) => file.endsWith('.d.ts'))).toBe(true);
    expect(all.some((file) => file.endsWith('.cjs'))).toBe(true);
  });

  it('finds the dist/ the test run built fresh, in both readings', () => {
    expect(distIsStale()).toBe(false);
    expect(distIsStale({ js: true })).toBe(false);
  });
});
