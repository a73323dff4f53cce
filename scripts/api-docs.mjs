// Generates docs/api.md from the TSDoc of every export of every subpath (package.json
// `exports`), with the TypeScript compiler API: the reference cannot miss an export.
// Run: npm run docs:api (writes it) or npm run docs:api -- --check (CI: fails when it is stale).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const KNOWN = {
  ssekit: 'src/index.ts',
  'ssekit/client': 'src/client/index.ts',
  'ssekit/server': 'src/server/index.ts',
  'ssekit/node': 'src/adapters/node/index.ts',
  'ssekit/hub': 'src/hub/index.ts',
  'ssekit/redis': 'src/adapters/redis/index.ts',
  'ssekit/replies': 'src/replies/index.ts',
  'ssekit/ai-sdk': 'src/ai/sdk.ts',
  'ssekit/ai-sdk-client': 'src/ai/transport.ts',
  'ssekit/ai': 'src/ai/index.ts',
  'ssekit/share': 'src/client/share.ts',
};
const ENTRIES = {};
for (const name of Object.keys(pkg.exports)) {
  const sub = name === '.' ? 'ssekit' : `ssekit/${name.slice(2)}`;
  if (sub === 'ssekit/package.json') continue;
  if (!(sub in KNOWN)) throw new Error(`no entry file known for ${sub}`);
  ENTRIES[sub] = KNOWN[sub];
}

const program = ts.createProgram(Object.values(ENTRIES), {
  strict: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
});
const checker = program.getTypeChecker();

const kindOf = (symbol) => {
  const d = symbol.declarations?.[0];
  if (!d) return 'value';
  if (ts.isFunctionDeclaration(d)) return 'function';
  if (ts.isClassDeclaration(d)) return 'class';
  if (ts.isInterfaceDeclaration(d)) return 'interface';
  if (ts.isTypeAliasDeclaration(d)) return 'type';
  if (ts.isVariableDeclaration(d)) return 'const';
  return 'value';
};

// `{@link X}` reads as `X` in Markdown.
const text = (parts) =>
  ts
    .displayPartsToString(parts)
    .replace(/\{@link\s+([^}\s]+)\s*\}/g, '`$1`')
    .trim();

let out = `# API reference\n\nGenerated from the TSDoc in \`src/\` by \`npm run docs:api\` (scripts/api-docs.mjs); do not edit by hand.\nEvery export of every subpath is listed. Guides: [streaming LLM tokens](./streaming-llm-tokens.md), [Next.js](./nextjs.md), [replies that survive a reload](./replies.md), [reading an LLM provider's stream](./ai-providers.md), [tabs sharing one connection](./sharing.md), [scaling with Redis](./scaling-with-redis.md), [deploying](./deploying.md), [CLI](./cli.md).\n`;
for (const [sub, file] of Object.entries(ENTRIES)) {
  const source = program.getSourceFile(file);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => a.name.localeCompare(b.name));
  out += `\n## \`${sub}\`\n\n`;
  const fileDoc = source.statements.length && ts.getLeadingCommentRanges(source.text, 0)?.[0];
  if (fileDoc) {
    const raw = source.text
      .slice(fileDoc.pos, fileDoc.end)
      .replace(/^\/\*\*|\*\/$/g, '')
      .replace(/^\s*\* ?/gm, '')
      .trim();
    if (!raw.startsWith('#!')) out += `${raw}\n\n`;
  }
  for (const exported of exports) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const kind = kindOf(symbol);
    const doc = text(symbol.getDocumentationComment(checker));
    const tags = symbol.getJsDocTags(checker);
    const decl = symbol.declarations?.[0];
    let signature = '';
    if (decl && (kind === 'function' || kind === 'const')) {
      const type = checker.getTypeOfSymbolAtLocation(symbol, decl);
      signature = checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation);
      if (kind === 'function') {
        signature = type
          .getCallSignatures()
          .map(
            (s) =>
              `${exported.name}${checker.signatureToString(s, undefined, ts.TypeFormatFlags.NoTruncation)}`,
          )
          .join('\n');
      } else signature = `const ${exported.name}: ${signature}`;
    }
    out += `### \`${exported.name}\` (${kind})\n\n`;
    if (signature) out += `\`\`\`ts\n${signature}\n\`\`\`\n\n`;
    out += doc ? `${doc}\n\n` : '';
    if ((kind === 'interface' || kind === 'class') && symbol.members) {
      const rows = [];
      for (const [name, member] of symbol.members) {
        if (String(name).startsWith('__') || String(name).startsWith('#')) continue;
        const mdoc = text(member.getDocumentationComment(checker)).replace(/\s*\n\s*/g, ' ');
        if (mdoc) rows.push(`- \`${String(name)}\`: ${mdoc}`);
      }
      if (rows.length) out += `${rows.join('\n')}\n\n`;
    }
    for (const tag of tags) {
      if (tag.name === 'example')
        out += `Example${text(tag.text ?? []).startsWith('```') ? ':\n\n' : ' '}${text(tag.text ?? [])}\n\n`;
    }
    if (!doc && !tags.length) out += '_(see the type)_\n\n';
  }
}
// The repository's formatter (biome) formats Markdown too: write what it would, so `npm run lint`
// and `--check` agree.
out = execFileSync('node_modules/.bin/biome', ['format', '--stdin-file-path=docs/api.md'], {
  input: out,
  encoding: 'utf8',
});
if (process.argv.includes('--check')) {
  if (readFileSync('docs/api.md', 'utf8') !== out) {
    console.error('docs/api.md is out of date with the TSDoc: run npm run docs:api and commit it');
    process.exit(1);
  }
  console.log('docs/api.md is up to date');
} else {
  writeFileSync('docs/api.md', out);
  console.log(`docs/api.md written (${out.length} characters)`);
}
