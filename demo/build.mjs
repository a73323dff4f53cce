// Bundles the demo pages (plain TypeScript, no framework; the AI SDK chat page bundles the `ai`
// package from node_modules, a devDependency) with esbuild into demo/public/, and
// writes each page's HTML from the one shell they share (pages/page.html).
// `ssekit/client` and `ssekit/share` resolve to the source, so the pages always show the current
// client.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const PAGES = { chat: 'Chat', ai: 'AI SDK chat', feed: 'Live feed', dashboard: 'Dashboard' };

export async function buildPages() {
  const out = here('./public/');
  await mkdir(out, { recursive: true });
  const common = {
    outdir: out,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    alias: {
      'ssekit/client': here('../src/client/index.ts'),
      'ssekit/share': here('../src/client/share.ts'),
    },
    logLevel: 'warning',
  };
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: Object.keys(PAGES)
        .filter((name) => name !== 'ai')
        .map((name) => here(`./pages/${name}.ts`)),
      minify: false,
      sourcemap: 'inline',
    }),
    // The `ai` package brings zod along (about 1 MB as written): minified, with its source map
    // in a file of its own that only the browser's developer tools fetch.
    esbuild.build({ ...common, entryPoints: [here('./pages/ai.ts')], minify: true, sourcemap: 'linked' }),
  ]);
  const shell = await readFile(here('./pages/page.html'), 'utf8');
  for (const [page, title] of Object.entries(PAGES)) {
    await writeFile(`${out}${page}.html`, shell.replaceAll('{{page}}', page).replaceAll('{{title}}', title));
  }
  for (const file of ['style.css', 'logo.svg']) {
    await copyFile(here(`./pages/${file}`), `${out}${file}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPages();
