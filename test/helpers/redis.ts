import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect as connectTcp, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach } from 'vitest';
import {
  createRedisBroker,
  type RedisBroker,
  type RedisBrokerOptions,
} from '../../src/adapters/redis/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Redis brokers for one test file: `freshPrefix(label)` gives a key prefix of its own (its keys
 * are deleted after the file), `broker(prefix, options)` a broker on it (closed after each
 * test). Call it once at the top of the file, before registering hooks that must run first
 * (after-hooks run in reverse order: a file's own afterEach closing hubs then runs before this).
 */
export function redisBrokers() {
  const prefixes: string[] = [];
  const brokers: RedisBroker[] = [];
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    await Promise.all(prefixes.map(deletePrefix));
  });
  return {
    broker(prefix: string, options: RedisBrokerOptions = {}): RedisBroker {
      const b = createRedisBroker({ url: REDIS_URL, prefix, onError: () => {}, ...options });
      brokers.push(b);
      return b;
    },
    freshPrefix(label: string): string {
      const p = uniquePrefix(label);
      prefixes.push(p);
      return p;
    },
  };
}

/**
 * True when a Redis answers at REDIS_URL. Without one, Redis tests are skipped with a visible
 * message, unless SSEKIT_REQUIRE_SERVICES is set (CI): then a missing Redis is a failure.
 */
export async function redisAvailable(): Promise<boolean> {
  const ok = await answers(REDIS_URL, 1000);
  if (!ok) {
    if (process.env.SSEKIT_REQUIRE_SERVICES) {
      throw new Error(`SSEKIT_REQUIRE_SERVICES is set but no Redis answers at ${REDIS_URL}`);
    }
    console.warn(`\n*** SKIPPING Redis tests: no Redis answers at ${REDIS_URL} (set REDIS_URL) ***\n`);
  }
  return ok;
}

/** A key prefix no other run uses (cleaned up by the test's afterAll). */
export function uniquePrefix(label: string): string {
  return `ssekit-test:${label}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL, { lazyConnect: true });
  admin.on('error', () => {});
  await admin.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(
        cursor,
        'MATCH',
        `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
        'COUNT',
        500,
      );
      cursor = next;
      if (keys.length > 0) await admin.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

/**
 * A redis-server of the test's own, on a free port of 127.0.0.1, that the test may kill and
 * restart (the shared one must never be stopped). By default, an append-only file with `fsync`
 * on every write in a temporary directory, as a real deployment keeps its streams: a restart
 * loses nothing that Redis acknowledged. With `{ persist: false }` (`--save '' --appendonly
 * no`), a restart loses everything, as a cache-only Redis does. Stop it with `stop()` (by PID,
 * never by name).
 */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILL: no goodbye to clients, no final save. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/** True when a `redis-server` binary runs here (else tests that need their own are skipped). */
export function redisServerAvailable(): boolean {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found) {
    if (process.env.SSEKIT_REQUIRE_SERVICES) {
      throw new Error('SSEKIT_REQUIRE_SERVICES is set but there is no redis-server binary');
    }
    console.warn('\n*** SKIPPING tests that restart Redis: no redis-server binary on PATH ***\n');
  }
  return found;
}

export async function startOwnRedis(options: { persist?: boolean } = {}): Promise<OwnRedis> {
  const persistence =
    options.persist === false
      ? ['--save', '', '--appendonly', 'no']
      : ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
  const dir = mkdtempSync(join(tmpdir(), 'ssekit-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const spawnServer = async (): Promise<void> => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence, '--loglevel', 'warning'],
      { stdio: 'ignore' },
    );
    child = proc;
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${String(proc.exitCode)})`);
      if (await answers(`redis://127.0.0.1:${port}`, 500)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('redis-server did not answer in time');
  };
  const kill = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
  };
  await spawnServer();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start: spawnServer,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a Redis at `url` answers PING within `connectTimeout` ms (never throws). */
async function answers(url: string, connectTimeout: number): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP proxy to a Redis that the test controls: `cut()` drops every connection through it and
 * refuses new ones (a network partition between a broker and Redis), `heal()` lets them in
 * again. Other clients of that Redis (publishers, the test's admin connection) are unaffected.
 */
export interface RedisProxy {
  readonly url: string;
  cut(): void;
  heal(): void;
  /** Holds Redis's answers back, connections up (a reader that falls behind). */
  hold(): void;
  /** Lets the held answers through, in order. */
  release(): void;
  close(): Promise<void>;
}

export async function startRedisProxy(target: string = REDIS_URL): Promise<RedisProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let refusing = false;
  let holding = false;
  const held: (() => void)[] = [];
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(Number(port || 6379), hostname || '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (holding) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${own}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const write of held.splice(0)) write();
    },
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    heal() {
      refusing = false;
    },
    close() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The commands (name and arguments) every ioredis connection of this process sends while `run` runs. */
export async function commandsSentDuring<T>(
  run: () => Promise<T>,
): Promise<{ result: T; sent: { name: string; args: string[] }[] }> {
  const sent: { name: string; args: string[] }[] = [];
  const original = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function recording(this: Redis, command, stream) {
    const { name, args } = command as unknown as { name: string; args: unknown[] };
    sent.push({ name, args: args.map(String) });
    return original.call(this, command, stream);
  } as typeof original;
  try {
    return { result: await run(), sent };
  } finally {
    Redis.prototype.sendCommand = original;
  }
}
