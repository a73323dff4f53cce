import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

// One entry per subpath export (see DESIGN.md). ESM and CommonJS, each with its declarations.
const subpaths = {
  index: 'src/index.ts',
  client: 'src/client/index.ts',
  server: 'src/server/index.ts',
  node: 'src/adapters/node/index.ts',
  hub: 'src/hub/index.ts',
  redis: 'src/adapters/redis/index.ts',
  replies: 'src/replies/index.ts',
  ai: 'src/ai/index.ts',
  'ai-sdk': 'src/ai/sdk.ts',
  'ai-sdk-client': 'src/ai/transport.ts',
  share: 'src/client/share.ts',
};

const jsOnly = Boolean(process.env.SSEKIT_BUILD_JS_ONLY);

export default defineConfig({
  entry: {
    ...subpaths,
    // The `ssekit` bin (package.json `bin`): not a subpath export, so no declarations. Built
    // here, with the subpaths, so dist/cli.js shares their chunks instead of a second copy of
    // the code. tsup builds every entry in every format: the dist/cli.cjs that comes with it is
    // left out of the package (package.json `files`).
    cli: 'src/cli/index.ts',
  },
  define: { __SSEKIT_VERSION__: JSON.stringify(version) },
  format: jsOnly ? ['esm'] : ['esm', 'cjs'],
  // `npm start` builds the ES modules only (SSEKIT_BUILD_JS_ONLY, scripts/dist.mjs --js): the
  // demo runs those, and the declarations take most of a build's time.
  dts: jsOnly ? false : { entry: subpaths },
  target: 'es2022',
  platform: 'neutral',
  splitting: true,
  treeshake: true,
  clean: true,
  sourcemap: false,
  // Keep `node:stream`: Deno, Bun and edge bundlers resolve the prefixed form only.
  removeNodeProtocol: false,
  external: [/^node:/],
});
