/**
 * `ssekit/ai`'s readers import the protocol layer only (DESIGN.md), so a browser bundle that
 * imports them carries no server, hub, replies or Node code; the chat transport
 * (`ssekit/ai-sdk-client`) adds the client layer, and nothing else.
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

it('ssekit/ai-sdk-client (the chat transport) bundles from src/ai, src/client and src/protocol only, with no node: import', async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const result = await build({
    entryPoints: ['src/ai/transport.ts'],
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'browser',
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs).toContain('src/client/connect.ts');
  expect(inputs.filter((file) => !/^src\/(ai\/transport\.ts|client\/|protocol\/)/.test(file))).toEqual([]);
});
