// Bundles the demo pages (plain TypeScript, no framework) with esbuild into demo/public/, and
// writes each page's HTML from the one shell they share (pages/page.html).
// `ssekit/client` and `ssekit/share` resolve to the source, so the pages always show the current
// client.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const PAGES = { chat: 'Chat', feed: 'Live feed', dashboard: 'Dashboard' };

export async function buildPages() {
  const out = here('./public/');
  await mkdir(out, { recursive: true });
  await esbuild.build({
    entryPoints: Object.keys(PAGES).map((name) => here(`./pages/${name}.ts`)),
    outdir: out,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: false,
    sourcemap: 'inline',
    alias: {
      'ssekit/client': here('../src/client/index.ts'),
      'ssekit/share': here('../src/client/share.ts'),
    },
    logLevel: 'warning',
  });
  const shell = await readFile(here('./pages/page.html'), 'utf8');
  for (const [page, title] of Object.entries(PAGES)) {
    await writeFile(`${out}${page}.html`, shell.replaceAll('{{page}}', page).replaceAll('{{title}}', title));
  }
  for (const file of ['style.css', 'logo.svg']) {
    await copyFile(here(`./pages/${file}`), `${out}${file}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPages();
