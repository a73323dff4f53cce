/**
 * Every TypeScript snippet in README.md and docs/*.md compiles, as a user would paste it, against
 * the built package (`ssekit/...` resolves through package.json `exports` to dist/*.d.ts), under
 * `strict` and `exactOptionalPropertyTypes`. Snippets are read from the Markdown each run, so a
 * doc cannot drift from the API unnoticed. Snippets fenced ```` ```ts run ```` are also run with
 * Node and must exit 0 (they are the self-contained ones: no server left listening, no network).
 *
 * A snippet whose first line is `// <path>` and whose code is, exactly, the file of an example
 * at that path (`examples/<name>/<path>`, minus its leading doc comment) is type checked there,
 * with the example's own imports and configuration (the Next.js example by `next build` in its
 * end-to-end test), not here; test/examples/next-docs.test.ts holds the guide to those files.
 *
 * Each snippet is its own module. In docs/api.md (generated from TSDoc), an example shows one
 * export, so it gets every export of its section's entry point imported; elsewhere a snippet
 * imports what it uses, as a user's file must. Names a reader supplies themselves (their model,
 * their token, the `Response` they fetched) are declared once in ASSUMED below, typed as narrowly
 * as the snippets use them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { transform } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
// Inside the package, so `import 'ssekit/hub'` self-references the package's exports (dist/).
const dir = join(root, 'test-results/snippets');

const ASSUMED = `
/** What a reader's own code provides in the snippets. */
declare const request: Request;
declare const response: Response;
declare const url: string;
declare const token: string;
declare const model: {
  stream(prompt: string, options: { signal: AbortSignal }): AsyncIterable<string>;
};
declare function callYourModel(message: string, options: { signal: AbortSignal }): AsyncIterable<string>;
/** The text tokens of a model provider's streamed answer. */
declare function tokensOf(upstream: Response): AsyncIterable<string>;
/** The signed-in user's id, from a session cookie or a token. */
declare function userOf(request: Request): Promise<string | undefined>;
/** An app's fetch-style handler. */
declare function webHandler(request: Request): Promise<Response>;
declare const output: HTMLElement;
declare const stopButton: HTMLButtonElement;
declare function render(data: unknown): void;
declare function showOffline(): void;
`;
// The module a Next.js guide imports as '@/lib/hub' (its comment says what it holds).
const NEXT_LIB_HUB = "import { createHub } from 'ssekit/hub';\nexport const hub = createHub();\n";

interface Snippet {
  /** e.g. `README.md:33` (the line of the opening fence). */
  where: string;
  code: string;
  run: boolean;
  /** The example file the snippet is a copy of (its first line is `// <path>`), if any. */
  example?: string;
}

/** `examples/<name>/<path>` when a snippet starting with `// <path>` is a copy of that file. */
function exampleFile(code: string): string | undefined {
  const path = /^\/\/ ([\w@.[\]/-]+\.tsx?)\n/.exec(code)?.[1];
  if (!path) return undefined;
  const body = code.split('\n').slice(1).join('\n');
  for (const name of readdirSync(join(root, 'examples'))) {
    const file = join('examples', name, path);
    if (!existsSync(join(root, file))) continue;
    const source = readFileSync(join(root, file), 'utf8').replace(/^\/\*\*[\s\S]*?\*\/\n/, '');
    if (source.replace(/\n$/, '') === body) return file;
  }
  return undefined;
}

/** The exports of each `## \`ssekit/...\`` section of docs/api.md, from its `### \`name\`` headings. */
function apiSections(lines: string[]): Map<number, { entry: string; names: string[] }> {
  const byLine = new Map<number, { entry: string; names: string[] }>();
  let current: { entry: string; names: string[] } | undefined;
  lines.forEach((line, i) => {
    const section = /^## `(ssekit(?:\/[a-z-]+)?)`/.exec(line);
    if (section?.[1]) current = { entry: section[1], names: [] };
    const name = /^### `([A-Za-z_$][\w$]*)`/.exec(line);
    if (name?.[1] && current) current.names.push(name[1]);
    if (current) byLine.set(i, current);
  });
  return byLine;
}

function snippets(): Snippet[] {
  const files = [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const out: Snippet[] = [];
  for (const file of files) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    const sections = file === 'docs/api.md' ? apiSections(lines) : undefined;
    for (let i = 0; i < lines.length; i++) {
      const fence = /^(\s*)```(ts|typescript)(?:\s+(.*))?$/.exec(lines[i] ?? '');
      if (!fence) continue;
      const start = i;
      const indent = fence[1]?.length ?? 0;
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i] ?? ''); i++) {
        body.push((lines[i] ?? '').slice(indent));
      }
      // docs/api.md: only the examples; the other blocks are generated signatures.
      if (sections && !/^Example/.test(lines[start - 2] ?? '')) continue;
      let code = body.join('\n');
      const section = sections?.get(start);
      if (section) {
        const imported = section.names.filter((n) => !new RegExp(`\\bimport\\b[^;]*\\b${n}\\b`).test(code));
        code = `import { ${imported.join(', ')} } from '${section.entry}';\n${code}`;
      }
      const example = exampleFile(code);
      out.push({
        where: `${file}:${start + 1}`,
        code,
        run: fence[3]?.split(/\s+/).includes('run') ?? false,
        ...(example ? { example } : {}),
      });
    }
  }
  return out;
}

const all = snippets();
const checked = all.filter((s) => s.example === undefined);
const fileOf = (s: Snippet) => join(dir, `${s.where.replace(/[/.:]/g, '_')}.ts`);

describe('docs snippets', () => {
  it('finds the snippets (README, guides, the API reference examples)', () => {
    expect(all.filter((s) => s.where.startsWith('README.md')).length).toBeGreaterThan(5);
    expect(all.filter((s) => s.where.startsWith('docs/api.md')).length).toBeGreaterThan(10);
    expect(all.some((s) => s.run)).toBe(true);
  });

  it('every other snippet type-checks under strict and exactOptionalPropertyTypes', () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'assumed.d.ts'), ASSUMED);
    mkdirSync(join(dir, 'next/lib'), { recursive: true });
    writeFileSync(join(dir, 'next/lib/hub.ts'), NEXT_LIB_HUB);
    // `export {}` makes each snippet a module (top-level await, its own scope).
    for (const s of checked) writeFileSync(fileOf(s), `${s.code}\nexport {};\n`);
    const program = ts.createProgram([join(dir, 'assumed.d.ts'), ...checked.map(fileOf)], {
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts', 'lib.dom.asynciterable.d.ts'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      paths: { '@/*': [join(dir, 'next/*')] },
      // Declarations are the packed-types test's job (test/package/packed.test.ts); Next's own
      // need a newer lib than a snippet does.
      skipLibCheck: true,
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || d.start === undefined) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      const snippet = checked.find((s) => fileOf(s) === d.file?.fileName);
      const at = snippet
        ? `${snippet.where} (+${line + 1})`
        : `${relative(root, d.file.fileName)}:${line + 1}`;
      return `${at}: ${text}`;
    });
    expect(problems).toEqual([]);
  }, 60_000);

  for (const s of all.filter((x) => x.run)) {
    it(`runs ${s.where}`, async () => {
      const { code } = await transform(s.code, { loader: 'ts', format: 'esm', target: 'node20' });
      const file = fileOf(s).replace(/\.ts$/, '.mjs');
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, code);
      const { stderr } = await promisify(execFile)(process.execPath, [file], { timeout: 20_000, cwd: root });
      expect(stderr).toBe('');
    }, 30_000);
  }
});
