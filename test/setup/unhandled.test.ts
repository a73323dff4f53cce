import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('an unhandled rejection fails the test run, naming the test', () => {
  const config = fileURLToPath(new URL('../fixtures/unhandled/vitest.config.ts', import.meta.url));
  const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
  const run = spawnSync(process.execPath, [vitest, 'run', '--config', config], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeout: 60_000,
  });
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status).not.toBe(0);
  expect(output).toContain('unhandled promise rejection during this test');
  expect(output).toContain('leaks a rejection');
});
