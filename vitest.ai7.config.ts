// The AI SDK tests (test/ai) against the current major of `ai` (7), which declares Node >= 22 and
// so stays out of devDependencies (ai 6 there keeps `npm install` clean on Node 20). `npm run
// test:ai7` installs it into .ci/ai7 and runs these tests with `ai` resolved there; the browser
// test bundles `@ai-sdk/react`, which brings its own `ai`, so it checks ai 6 only.
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

export default mergeConfig(
  base,
  defineConfig({
    resolve: {
      alias: [
        {
          find: /^ai$/,
          replacement: fileURLToPath(new URL('./.ci/ai7/node_modules/ai/dist/index.js', import.meta.url)),
        },
      ],
    },
  }),
);
