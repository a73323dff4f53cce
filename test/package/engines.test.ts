/**
 * `npm install` on Node 20 prints no EBADENGINE warning: every installed package's
 * `engines.node` accepts Node 20 (the project says `>=20`). Read from node_modules, so a
 * dependency that moves to Node 22 (fastify's light-my-request did, with cookie 2) is caught
 * here, not by a user's install log.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
// semver as a direct dev dependency (attw) resolves it, whatever npm hoisted.
const semver = createRequire(join(root, 'node_modules/@arethetypeswrong/cli/package.json'))('semver') as {
  satisfies(version: string, range: string): boolean;
};

// The oldest Node 20 the dev tools run on at all: vite, under vitest, needs ^20.19.0.
const NODE_20 = '20.19.0';

// Packages allowed to refuse Node 20: none. eventsource-parser 4 (it says `>=22.12`) is not a
// dev dependency for that reason: bench/parser.mjs installs it for itself into bench/node_modules.
const KNOWN: string[] = [];

/** `name@version: range` of every package under `dir` whose engines.node refuses `version`. */
function refusing(dir: string, version: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (entry.startsWith('@')) {
      refusing(path, version, out);
      continue;
    }
    let pkg: { name?: string; version?: string; engines?: { node?: string } };
    try {
      pkg = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    const range = pkg.engines?.node;
    if (typeof range === 'string' && !semver.satisfies(version, range)) {
      out.push(`${relative(root, path)}@${pkg.version}: node ${range}`);
    }
    refusing(join(path, 'node_modules'), version, out);
  }
  return out;
}

describe('engines', () => {
  it(`every installed package accepts Node ${NODE_20}, but the known ones`, () => {
    const found = refusing(join(root, 'node_modules'), NODE_20);
    const known = found.filter((line) => KNOWN.some((name) => line.startsWith(`node_modules/${name}@`)));
    expect(found.filter((line) => !known.includes(line))).toEqual([]);
    // When a known one is fixed, it leaves this list too.
    expect(known.map((line) => line.replace(/^node_modules\/(.+)@.*$/, '$1'))).toEqual(KNOWN);
  });
});
