/**
 * docs/coming-from.md: each library's "Before" program and its ssekit "After" program are run
 * as they are written in the guide (read from the Markdown) and must print the same lines. The
 * client programs read one test server; the better-sse pair are servers, read by our parser.
 *
 * fetch-event-source is browser-only (it reads `window` and `document`): its program gets a
 * `window` and a `document` that is never hidden, so that it can run in Node at all.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParser, type ServerSentEvent } from '../../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
// Inside the package, so the programs resolve `ssekit/...` (dist/) and the other libraries.
const dir = join(root, 'test-results/coming-from');
const guide = readFileSync(join(root, 'docs/coming-from.md'), 'utf8');

/** The "Before" and "After" programs of the guide's `## <library>` section. */
function pair(library: string): { before: string; after: string } {
  const start = guide.indexOf(`## ${library}\n`);
  const end = guide.indexOf('\n## ', start + 1);
  const section = guide.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  if (start === -1 || blocks.length !== 2) throw new Error(`docs/coming-from.md: no pair for ${library}`);
  return { before: blocks[0] ?? '', after: blocks[1] ?? '' };
}

const BROWSER_SHIM =
  'globalThis.window = globalThis;\n' +
  'globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };\n';

function write(name: string, code: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, code);
  return file;
}

async function run(file: string, env: Record<string, string>): Promise<string[]> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [file], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  expect(stderr).toBe('');
  return stdout.split('\n').filter(Boolean);
}

// The stream every client program reads: three events, each with an id, then the end.
const STREAM =
  'retry: 1000\n\nid: 1\ndata: hello\n\nid: 2\nevent: update\ndata: {"n":2}\n\nid: 3\nevent: done\ndata: bye\n\n';
const PRINTED = ['message hello 1', 'update {"n":2} 2', 'done bye 3'];

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(STREAM);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('docs/coming-from.md: before and after print the same', () => {
  for (const library of [
    'eventsource-parser',
    '@microsoft/fetch-event-source',
    'eventsource (the npm package)',
  ]) {
    it(library, async () => {
      const { before, after } = pair(library);
      const shim = library.startsWith('@microsoft') ? BROWSER_SHIM : '';
      const name = library.replace(/[^a-z]+/g, '-');
      // fetch-event-source calls onmessage for a block without data (here the one that only
      // sets `retry`), where the spec dispatches nothing (WHATWG HTML §9.2.6): the guide says so.
      const extra = library.startsWith('@microsoft') ? ['message  '] : [];
      expect(await run(write(`${name}before`, shim + before), { SSE_URL: url })).toEqual([
        ...extra,
        ...PRINTED,
      ]);
      expect(await run(write(`${name}after`, after), { SSE_URL: url })).toEqual(PRINTED);
    }, 60_000);
  }

  it('better-sse: the two servers send the same events and retry', async () => {
    const { before, after } = pair('better-sse');
    const read = async (code: string, name: string) => {
      const server = await startServer(write(name, code));
      try {
        return await readEvents(`http://127.0.0.1:${server.port}/`, 3);
      } finally {
        server.child.kill('SIGTERM');
      }
    };
    const theirs = await read(before, 'better-sse-before');
    const ours = await read(after, 'better-sse-after');
    expect(theirs.events).toHaveLength(3);
    expect(ours).toEqual(theirs);
  }, 60_000);
});

/** Runs a server program on a free port; resolves once it prints `listening`. */
async function startServer(file: string): Promise<{ child: ChildProcess; port: number }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, PORT: String(port) } });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not listen`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`${file} exited (${code})`)));
  });
  return { child, port };
}

/** The first `n` events (event, data, id) and the retry value a stream sends. */
async function readEvents(at: string, n: number): Promise<{ events: ServerSentEvent[]; retry?: number }> {
  const controller = new AbortController();
  const events: ServerSentEvent[] = [];
  let retry: number | undefined;
  const parser = createParser({
    onEvent: (event) => {
      events.push(event);
      if (events.length === n) controller.abort();
    },
    onRetry: (ms) => {
      retry = ms;
    },
  });
  const response = await fetch(at, { signal: controller.signal });
  try {
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) parser.feed(r.value);
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return retry === undefined ? { events } : { events, retry };
}
