// Bundles the demo pages (plain TypeScript, no framework) with esbuild into demo/public/.
// `ssekit/client` resolves to the source, so the pages always show the current client.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export async function buildPages() {
  const out = here('./public/');
  await mkdir(out, { recursive: true });
  await esbuild.build({
    entryPoints: ['chat', 'feed', 'dashboard'].map((name) => here(`./pages/${name}.ts`)),
    outdir: out,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: false,
    sourcemap: 'inline',
    alias: { 'ssekit/client': here('../src/client/index.ts') },
    logLevel: 'warning',
  });
  for (const file of ['chat.html', 'feed.html', 'dashboard.html', 'style.css', 'logo.svg']) {
    await copyFile(here(`./pages/${file}`), `${out}${file}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPages();
