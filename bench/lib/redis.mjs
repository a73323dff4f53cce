// A redis-server of a bench's own (bench:redis, bench:replies): started on a free port, no
// persistence, so its CPU and command counts are the bench's alone; with REDIS_URL set, that
// server is used instead (then its figures include whatever else it serves).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts a redis-server (or takes REDIS_URL) and waits until it answers PING.
 * @param {(proc: import('node:child_process').ChildProcess) => void} track gets the process, so
 *   the caller stops it (by PID) with its other children
 * @returns {Promise<{url: string, own: boolean, pid?: number}>}
 */
export async function startRedis(track) {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, own: false };
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  track(proc);
  const failed = new Promise((_, reject) => proc.once('error', reject));
  failed.catch(() => {});
  const url = `redis://127.0.0.1:${port}`;
  // Ready once it answers PING (a few tries while it starts).
  for (let attempt = 0; ; attempt++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await Promise.race([probe.connect().then(() => probe.ping()), failed]);
      probe.disconnect();
      break;
    } catch (error) {
      probe.disconnect();
      if (attempt >= 50 || proc.exitCode !== null) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, own: true, pid: proc.pid };
}
