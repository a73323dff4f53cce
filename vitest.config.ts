import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // Examples import the package by name; in tests that means the sources, not dist/.
  resolve: {
    alias: [
      { find: /^ssekit$/, replacement: src('index.ts') },
      { find: /^ssekit\/server$/, replacement: src('server/index.ts') },
      { find: /^ssekit\/node$/, replacement: src('adapters/node/index.ts') },
      { find: /^ssekit\/client$/, replacement: src('client/index.ts') },
      { find: /^ssekit\/hub$/, replacement: src('hub/index.ts') },
      { find: /^ssekit\/redis$/, replacement: src('adapters/redis/index.ts') },
      { find: /^ssekit\/replies$/, replacement: src('replies/index.ts') },
      { find: /^ssekit\/ai$/, replacement: src('ai/index.ts') },
      { find: /^ssekit\/share$/, replacement: src('client/share.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ first when it is missing or stale: the Next.js example imports ssekit
    // through the package's exports (dist/), not through the aliases above.
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup/unhandled.ts'],
    testTimeout: 30_000,
    execArgv: ['--expose-gc'],
    hookTimeout: 60_000,
  },
});
