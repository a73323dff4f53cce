import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createParser } from '../../../src/index.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../../helpers/redis.js';

const available = await redisAvailable();
const prefix = uniquePrefix('failover');
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  if (available) await deletePrefix(prefix);
});

/** Bundles the hub server (TypeScript) once, so a plain `node` runs it in its own process. */
async function bundleServer(): Promise<string> {
  const dir = join(process.cwd(), 'node_modules', '.cache', 'ssekit-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `hub-server-${process.pid}.mjs`);
  await build({
    entryPoints: [join(import.meta.dirname, 'hub-server.ts')],
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

async function startHub(script: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, REDIS_URL, SSEKIT_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`hub process exited early (${String(code)})`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/**
 * A minimal SSE subscriber: reads `base()`'s stream, and whenever it ends or fails reconnects
 * (to wherever `base()` points then) with the Last-Event-ID it has, as an EventSource would
 * (WHATWG HTML §9.2.3). Stops after `total` events.
 */
async function subscriber(
  base: () => string,
  total: number,
): Promise<{ ids: string[]; data: string[]; reconnects: number }> {
  const ids: string[] = [];
  const data: string[] = [];
  // "0-0" resumes from the start of the topic, so when the first connect happens does not matter.
  let lastId = '0-0';
  let reconnects = -1;
  for (let attempt = 0; attempt < 500 && ids.length < total; attempt++) {
    reconnects++;
    try {
      const response = await fetch(`${base()}/?topic=feed`, { headers: { 'last-event-id': lastId } });
      if (response.status !== 200 || response.body === null) throw new Error(`status ${response.status}`);
      const parser = createParser({
        onEvent(event) {
          if (event.event === 'ssekit.reset') throw new Error('unexpected reset');
          ids.push(event.id as string);
          data.push(event.data);
          lastId = event.id as string;
        },
      });
      const reader = response.body.getReader();
      while (ids.length < total) {
        const next = await reader.read();
        if (next.done) break;
        parser.feed(next.value);
      }
      await reader.cancel().catch(() => {});
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { ids, data, reconnects };
}

describe.skipIf(!available)('two hub processes sharing Redis', () => {
  it('subscribers on A killed mid-run resume on B: every event exactly once, in order', async () => {
    const script = await bundleServer();
    const [a, b] = await Promise.all([startHub(script), startHub(script)]);
    const total = 10_000;
    let target = a.url;
    const subs = Array.from({ length: 8 }, () => subscriber(() => target, total));
    let published = 0;
    const publish = async (): Promise<void> => {
      while (published < total) {
        const n = published++;
        const response = await fetch(`${b.url}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'feed', data: String(n) }),
        });
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        if (n === 3000) {
          target = b.url;
          a.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([publish(), publish(), publish(), publish()]);
    const results = await Promise.all(subs);
    const admin = new Redis(REDIS_URL);
    const stored = await admin.xrange(`${prefix}t:feed`, '-', '+');
    admin.disconnect();
    expect(stored.length).toBe(total);
    const storedIds = stored.map(([id]) => id);
    for (const result of results) {
      expect(result.ids).toEqual(storedIds);
      expect(new Set(result.data).size).toBe(total);
    }
    // Under load a subscriber may first connect only after the switch to B; most went through A.
    expect(results.some((r) => r.reconnects > 0)).toBe(true);
    expect(a.child.signalCode).toBe('SIGKILL');
  }, 120_000);
});
