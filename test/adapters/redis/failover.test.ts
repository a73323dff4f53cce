import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleForNode } from '../../helpers/bundle.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../../helpers/redis.js';
import { type Recorded, subscribeWithClient, waitFor } from './subscriber.js';

const available = await redisAvailable();
const prefix = uniquePrefix('failover');
const children: ChildProcess[] = [];

const clients: Recorded[] = [];

afterAll(async () => {
  for (const client of clients) client.close();
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  if (available) await deletePrefix(prefix);
});

const bundleServer = (): Promise<string> => bundleForNode(join(import.meta.dirname, 'hub-server.ts'));

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

describe.skipIf(!available)('two hub processes sharing Redis', () => {
  it('subscribers on A killed mid-run resume on B: every event exactly once, in order', async () => {
    const script = await bundleServer();
    const [a, b] = await Promise.all([startHub(script), startHub(script)]);
    const total = 10_000;
    let target = a.url;
    // Subscribers on A, on the real client: when A dies they reconnect, to B, with Last-Event-ID.
    const subs = Array.from({ length: 8 }, () => subscribeWithClient(() => target, 'feed'));
    clients.push(...subs);
    await waitFor(() => subs.every((s) => s.opens === 1), 20_000);
    expect(subs.map((s) => s.opens)).toEqual(Array(8).fill(1));
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
    const admin = new Redis(REDIS_URL);
    const stored = await admin.xrange(`${prefix}t:feed`, '-', '+');
    admin.disconnect();
    expect(stored.length).toBe(total);
    const storedIds = stored.map(([id]) => id);
    await waitFor(() => subs.every((s) => s.ids.length >= total), 60_000);
    for (const sub of subs) sub.close();
    for (const sub of subs) {
      expect(sub.resets).toEqual([]);
      expect(sub.ids).toEqual(storedIds);
      expect(new Set(sub.data).size).toBe(total);
    }
    // Every one was on A and had to move to B.
    for (const sub of subs) expect(sub.opens).toBeGreaterThan(1);
    expect(a.child.signalCode).toBe('SIGKILL');
  }, 120_000);
});
