import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ first when it is missing or stale: the examples import ssekit through it.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    execArgv: ['--expose-gc'],
    hookTimeout: 60_000,
  },
});
