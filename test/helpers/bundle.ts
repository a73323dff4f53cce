import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript entry (a server a test runs in its own process) into one ES module that
 * a plain `node` runs; ioredis stays external. Returns the file's path.
 */
export async function bundleForNode(entry: string): Promise<string> {
  const dir = join(process.cwd(), 'node_modules', '.cache', 'ssekit-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${basename(entry, '.ts').replace(/\W/g, '-')}-${process.pid}.mjs`);
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    external: ['ioredis'],
    logLevel: 'error',
  });
  return outfile;
}

/** Bundles a TypeScript entry into one ES module a page can load (es2022, for Chromium): its code. */
export async function bundleForBrowser(entry: string, define?: Record<string, string>): Promise<string> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    ...(define ? { define } : {}),
  });
  return bundle.outputFiles[0]?.text ?? '';
}
