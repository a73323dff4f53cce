/**
 * docs/replies.md shows the Next.js example's route code ("Next.js App Router"): each block there
 * must be the example's file as it is, minus the file's leading doc comment, so the guide never
 * drifts from the code the end-to-end test proves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { appDir, repoRoot } from './next-app.js';

const FILES = ['lib/replies.ts', 'app/api/chat/route.ts', 'app/api/replies/[id]/route.ts'];

/** The fenced `ts` block of `markdown` whose first line is `// <path>`, without that line. */
function blockFor(markdown: string, path: string): string | undefined {
  for (const [, body] of markdown.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const [first, ...rest] = body!.split('\n');
    if (first === `// ${path}`) return rest.join('\n');
  }
  return undefined;
}

test.each(FILES)('docs/replies.md shows examples/next/%s as it is', (path) => {
  const guide = readFileSync(join(repoRoot, 'docs/replies.md'), 'utf8');
  const source = readFileSync(join(appDir, path), 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '');
  expect(blockFor(guide, path)).toBe(source);
});
