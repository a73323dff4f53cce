import { defineConfig } from 'tsup';

// One entry per subpath export (see DESIGN.md). ESM and CommonJS, each with its declarations.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    server: 'src/server/index.ts',
    node: 'src/adapters/node/index.ts',
    hub: 'src/hub/index.ts',
    client: 'src/client/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
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
