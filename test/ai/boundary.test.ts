/**
 * `ssekit/ai`'s readers import the protocol layer only (DESIGN.md), so a browser bundle that
 * imports them carries no server, hub, replies or Node code.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

it('bundles from src/ai and src/protocol only, with no node: import', async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const result = await build({
    entryPoints: ['src/ai/index.ts'],
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'browser',
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.length).toBeGreaterThan(3);
  expect(inputs.filter((file) => !/^src\/(ai|protocol)\//.test(file))).toEqual([]);
});
