// Bundle size of each client entry point as a user's bundler would ship it: esbuild bundles one
// import from the built package (dist/, so `sideEffects: false` and tree-shaking apply as they
// would for a user), minified, then gzipped. Run with `npm run size` (it builds first).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));

const entries = [
  { name: 'connect', code: "export { connect } from 'ssekit/client';", limit: 3 * 1024 },
  { name: 'EventSource', code: "export { EventSource } from 'ssekit/client';", limit: 4 * 1024 },
  { name: 'connect + EventSource', code: "export { connect, EventSource } from 'ssekit/client';" },
];
// For reference, the library users would otherwise pick, measured the same way when installed.
try {
  require.resolve('@microsoft/fetch-event-source');
  entries.push({
    name: '@microsoft/fetch-event-source (reference)',
    code: "export { fetchEventSource } from '@microsoft/fetch-event-source';",
  });
} catch {}

async function measure(code) {
  const result = await build({
    stdin: { contents: code, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const bytes = result.outputFiles[0].contents;
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
let failed = false;
const rows = [];
for (const entry of entries) {
  const { min, gzip } = await measure(entry.code);
  const over = entry.limit !== undefined && gzip > entry.limit;
  failed ||= over;
  rows.push({
    entry: entry.name,
    minified: kb(min),
    gzip: kb(gzip),
    limit: entry.limit === undefined ? '' : `${kb(entry.limit)} ${over ? 'OVER' : 'ok'}`,
  });
}
console.table(rows);
if (failed) {
  console.error('size: an entry is over its limit');
  process.exitCode = 1;
}
