/**
 * The package as a user gets it: what the tarball holds, and its declarations. `npm pack` the
 * built package once, install
 * the tarball into an empty project (offline: it has no dependencies; TypeScript, @types/node
 * and ioredis, the optional peer `ssekit/redis` types against, are linked from this repo), and
 * type check a consumer (test/package/consumer/) under the configurations users actually have.
 * `skipLibCheck` is off except where a configuration sets it: an error inside `dist/*.d.ts` is
 * ours. Where it is on (`tsc --init`), a type that silently became `any` still fails, on the
 * consumer's `@ts-expect-error` lines.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const consumer = join(root, 'test/package/consumer');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

interface Result {
  code: number;
  output: string;
}

function run(command: string, args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

async function mustRun(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.output}`);
  return result.output;
}

/** At most this many `tsc` at once (each one is single-threaded and takes a few hundred MB). */
function limiter(slots: number): <T>(task: () => Promise<T>) => Promise<T> {
  const waiting: (() => void)[] = [];
  let busy = 0;
  return async (task) => {
    while (busy >= slots) await new Promise<void>((wake) => waiting.push(wake));
    busy++;
    try {
      return await task();
    } finally {
      busy--;
      waiting.shift()?.();
    }
  };
}
const limit = limiter(Math.max(2, Math.min(4, availableParallelism())));

const web = ['web.ts'];
const all = ['web.ts', 'node.ts'];
const strict = { target: 'es2022', module: 'nodenext', strict: true, skipLibCheck: false, noEmit: true };
const nodeOnly = { ...strict, lib: ['es2023'], types: ['node'] };
const dom = ['es2023', 'dom', 'dom.iterable'];

interface Config {
  name: string;
  files: string[];
  /** `compilerOptions` of the project's tsconfig.json; none: the one `tsc --init` writes. */
  options?: Record<string, unknown>;
}

const configs: Config[] = [
  { name: 'Node only', files: all, options: nodeOnly },
  // What the issue saw: with skipLibCheck the errors vanish and event data becomes `any`.
  { name: 'Node only, skipLibCheck', files: all, options: { ...nodeOnly, skipLibCheck: true } },
  { name: 'DOM, no @types/node', files: web, options: { ...strict, lib: dom, types: [] } },
  { name: 'DOM and @types/node', files: all, options: { ...strict, lib: dom, types: ['node'] } },
  { name: 'webworker', files: web, options: { ...strict, lib: ['es2023', 'webworker'], types: [] } },
  {
    name: 'exactOptionalPropertyTypes',
    files: all,
    options: { ...nodeOnly, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true },
  },
  {
    name: 'moduleResolution node16 (ESM and CommonJS)',
    files: [...all, 'require.cts'],
    options: { ...nodeOnly, module: 'node16', moduleResolution: 'node16' },
  },
  // A browser app's bundler setup (Vite's, say): no @types/node, so the Web subpaths only.
  {
    name: 'moduleResolution bundler',
    files: web,
    options: { ...strict, module: 'preserve', moduleResolution: 'bundler', lib: dom, types: [] },
  },
  // Today's `tsc --init`: DOM libs, `types: []`, exactOptionalPropertyTypes, skipLibCheck.
  { name: 'tsc --init', files: web },
];

let work: string;
let project: string;
let packedFiles: string[];

beforeAll(async () => {
  // global-setup.ts has built dist/ if it was stale.
  work = await mkdtemp(join(tmpdir(), 'ssekit-types-'));
  const packed = await mustRun(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
    root,
  );
  const [{ filename, files }] = JSON.parse(packed.slice(packed.indexOf('['))) as [
    { filename: string; files: { path: string }[] },
  ];
  packedFiles = files.map((file) => file.path);
  project = join(work, 'project');
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    '{ "name": "consumer", "private": true, "type": "module" }\n',
  );
  await mustRun(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, filename)],
    project,
  );
  await mkdir(join(project, 'node_modules/@types'));
  for (const name of ['@types/node', 'ioredis', 'typescript']) {
    await symlink(join(root, 'node_modules', name), join(project, 'node_modules', name), 'dir');
  }
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds every subpath in ESM and CommonJS with declarations, the bin, and no CLI extras', () => {
    for (const name of [
      'index',
      'client',
      'server',
      'node',
      'hub',
      'redis',
      'replies',
      'ai',
      'ai-sdk',
      'ai-sdk-client',
      'share',
    ]) {
      for (const ext of ['js', 'cjs', 'd.ts', 'd.cts']) expect(packedFiles).toContain(`dist/${name}.${ext}`);
    }
    expect(packedFiles).toContain('dist/cli.js');
    // The bin is ESM (package.json `bin`); its CommonJS twin and declarations serve nobody.
    expect(packedFiles.filter((path) => /^dist\/cli\.(?!js$)/.test(path))).toEqual([]);
  });

  it("names the repository, so the README's links to docs/ and examples/ resolve on the package page", async () => {
    const pkg = JSON.parse(await readFile(join(project, 'node_modules/ssekit/package.json'), 'utf8'));
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/ssekit/ssekit.git' });
    expect(pkg.homepage).toBe('https://github.com/ssekit/ssekit#readme');
    expect(pkg.bugs).toEqual({ url: 'https://github.com/ssekit/ssekit/issues' });
  });
});

describe.concurrent('the packed declarations type check in a consumer', () => {
  it.each(configs)('$name', { timeout: 120_000 }, async (config) => {
    const dir = join(project, config.name.replace(/\W+/g, '-'));
    await mkdir(dir);
    for (const file of config.files) await copyFile(join(consumer, file), join(dir, file));
    if (config.options) {
      const tsconfig = { compilerOptions: config.options, files: config.files };
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    } else {
      await mustRun(process.execPath, [tsc, '--init'], dir);
    }
    const result = await limit(() =>
      run(process.execPath, [tsc, '-p', dir, '--noEmit', '--pretty', 'false'], dir),
    );
    const tsconfig = await readFile(join(dir, 'tsconfig.json'), 'utf8');
    expect(result.output, `tsc under ${config.name}:\n${tsconfig}`).toBe('');
    expect(result.code).toBe(0);
  });
});
