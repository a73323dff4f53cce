import cluster, { type Worker } from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createClusterBroker, createRequestListener, serveClusterBroker } from '../adapters/node/index.js';
import { type Broker, createHub, createMemoryBroker, jwtAuthorizer } from '../hub/index.js';
import { out, UsageError } from './shared.js';

export const SERVE_HELP = `Usage: ssekit serve [options]

Runs a hub: GET /?topic=a&topic=b subscribes (resuming from Last-Event-ID),
POST / with {"topic","event","data"} publishes, GET /metrics is Prometheus text,
GET /healthz answers {"ok":true}.

Options:
  -p, --port <n>           port (default 8080; 0 picks a free one)
      --host <addr>        address to listen on (default 127.0.0.1; 0.0.0.0 for all)
      --redis <url>        share topics, history and resume through Redis (Streams), so
                           several servers (and machines) serve the same topics; needs the
                           ioredis package
      --redis-prefix <p>   prefix of the Redis keys (default {ssekit}:); servers that share
                           topics use the same one
      --workers <n>        worker processes behind the one port (node:cluster, default 1);
                           they share one broker: Redis with --redis, else the primary's memory;
                           each response names its worker in an ssekit-worker header
      --jwt-secret <s>     require an HS256 JWT (Authorization: Bearer, or the ssekit_token cookie)
      --jwt-key-file <f>   the same, with the secret read from a file
      --cors <origins>     comma-separated allowed origins, or *
      --history <n>        events kept per topic for resume (default 1000; with --redis,
                           the approximate length of each topic's stream)
  -h, --help               this help

Examples:
  ssekit serve --port 8080
  ssekit serve --jwt-secret "$SECRET" --cors https://app.example.com
  ssekit serve --redis redis://127.0.0.1:6379 --workers 2
  curl -N 'http://localhost:8080/?topic=news'   # then: ssekit publish http://localhost:8080/ news hi
`;

const log = (text: string): void => {
  process.stderr.write(`${new Date().toISOString()} ssekit serve[${process.pid}]: ${text}\n`);
};

export async function serve(argv: string[]): Promise<number> {
  if (!cluster.isWorker) return run(argv);
  let code = 70;
  try {
    code = await run(argv);
    return code;
  } finally {
    // The IPC channel to the primary would keep a worker alive after its server stopped, and a
    // cluster worker exits as soon as it disconnects: set the exit code first.
    process.exitCode = code;
    if (process.connected) cluster.worker?.disconnect();
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      workers: { type: 'string' },
      'jwt-secret': { type: 'string' },
      'jwt-key-file': { type: 'string' },
      cors: { type: 'string' },
      history: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    await out(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got ${positionals[0]}`);
  const port = wholeNumber('--port', values.port ?? '8080', 0, 65535);
  const workers = wholeNumber('--workers', values.workers ?? '1', 1, 256);
  const historyMax = wholeNumber('--history', values.history ?? '1000', 1, 1_000_000);
  const redisUrl = values.redis;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new UsageError('--redis must be a redis:// or rediss:// URL');
  }
  if (values['redis-prefix'] !== undefined && redisUrl === undefined) {
    throw new UsageError('--redis-prefix needs --redis');
  }
  if (values['jwt-secret'] !== undefined && values['jwt-key-file'] !== undefined) {
    throw new UsageError('give --jwt-secret or --jwt-key-file, not both');
  }
  let secret = values['jwt-secret'];
  if (values['jwt-key-file'] !== undefined) {
    try {
      secret = (await readFile(values['jwt-key-file'], 'utf8')).trim();
    } catch (error) {
      throw new UsageError(`--jwt-key-file: ${(error as Error).message}`);
    }
  }
  if (secret !== undefined && secret.length < 32) {
    throw new UsageError('the JWT secret must be at least 32 characters (HS256 wants 256 bits)');
  }
  const origins =
    values.cors
      ?.split(',')
      .map((o) => o.trim())
      .filter(Boolean) ?? [];

  const brokerName = redisUrl !== undefined ? `Redis ${redactUrl(redisUrl)}` : 'in-memory';

  if (workers > 1 && cluster.isPrimary) {
    return primary(
      workers,
      redisUrl === undefined ? createMemoryBroker({ history: { maxEvents: historyMax } }) : null,
      brokerName,
    );
  }

  let broker: Broker;
  let closeBroker = async (): Promise<void> => {};
  if (redisUrl !== undefined) {
    // Loaded only here, so the bin runs without ioredis installed until --redis is used.
    let redis: typeof import('../adapters/redis/index.js');
    try {
      redis = await import('../adapters/redis/index.js');
    } catch (error) {
      throw new UsageError(
        `--redis needs the ioredis package (npm install ioredis): ${(error as Error).message}`,
      );
    }
    const redisBroker = redis.createRedisBroker({
      url: redisUrl,
      maxLen: historyMax,
      ...(values['redis-prefix'] !== undefined ? { prefix: values['redis-prefix'] } : {}),
      onError: (error) => log(`redis: ${(error as Error)?.message ?? String(error)}`),
    });
    try {
      await redisBroker.ready();
    } catch (error) {
      await redisBroker.close().catch(() => {});
      log(
        `error: cannot reach Redis at ${redactUrl(redisUrl)}: ${(error as Error)?.message ?? String(error)}`,
      );
      return 1;
    }
    broker = redisBroker;
    closeBroker = () => redisBroker.close();
  } else if (cluster.isWorker) {
    broker = createClusterBroker();
    closeBroker = () => broker.close();
  } else {
    broker = createMemoryBroker({ history: { maxEvents: historyMax } });
    closeBroker = () => broker.close();
  }

  const hub = createHub({
    broker,
    ...(secret !== undefined
      ? { authorize: jwtAuthorizer({ key: new TextEncoder().encode(secret), algorithms: ['HS256'] }) }
      : {}),
    onError: (error) => log(`error: ${(error as Error)?.message ?? String(error)}`),
  });

  const corsFor = (request: Request): Record<string, string> => {
    const origin = request.headers.get('origin');
    if (origin === null || origins.length === 0) return {};
    if (!origins.includes('*') && !origins.includes(origin)) return {};
    return {
      'access-control-allow-origin': origins.includes('*') ? '*' : origin,
      'access-control-allow-headers': 'authorization, content-type, last-event-id',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-expose-headers': 'ssekit-resume',
      vary: 'origin',
    };
  };

  const handler = async (request: Request, context: { clientAddress?: string }): Promise<Response> => {
    const cors = corsFor(request);
    const { pathname } = new URL(request.url);
    let response: Response;
    if (request.method === 'OPTIONS') response = new Response(null, { status: 204 });
    else if (pathname === '/healthz') response = Response.json({ ok: true, pid: process.pid });
    else if (pathname === '/metrics') {
      response = new Response(hub.prometheus(), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
    } else if (pathname === '/') response = await hub.handler(request, context);
    else response = Response.json({ error: 'not found' }, { status: 404 });
    for (const [name, value] of Object.entries(cors)) response.headers.set(name, value);
    if (cluster.isWorker) response.headers.set('ssekit-worker', String(process.pid));
    return response;
  };

  const server = createServer(
    createRequestListener(handler, {
      onError: (error) => log(`error: ${(error as Error)?.message ?? String(error)}`),
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, values.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot listen on port ${port}: ${error.code ?? error.message}`);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const details = `${secret ? ', JWT required' : ''}${origins.length ? `, CORS ${origins.join(' ')}` : ''}`;
  if (cluster.isWorker) {
    // The primary logs one line once every worker listens.
    process.send?.({ [READY]: url, details });
  } else {
    log(`listening on ${url} (${brokerName} hub${details})`);
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      // A worker's stop is the primary's to log (one line per stop).
      if (!cluster.isWorker) log(`${signal}: stopping`);
      void hub
        .close({ timeoutMs: 3000 })
        .catch((error: unknown) => log(`error: ${(error as Error).message}`))
        .then(() => closeBroker())
        .catch((error: unknown) => log(`error: ${(error as Error).message}`))
        .then(() => {
          server.closeAllConnections();
          server.close(() => resolve());
        });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // A worker whose primary is gone stops too, instead of serving on alone.
    if (cluster.isWorker) process.once('disconnect', () => stop('disconnect'));
  });
  if (!cluster.isWorker) log('stopped');
  return 0;
}

const READY = 'ssekit:serve-ready';

/**
 * The primary of `--workers n`: forks the workers (each runs this same command and listens on
 * the shared port), serves them the in-memory broker over IPC when there is no Redis, replaces a
 * worker that dies, and stops them all on SIGINT/SIGTERM.
 */
async function primary(workers: number, memory: Broker | null, brokerName: string): Promise<number> {
  const served = memory !== null ? serveClusterBroker(memory) : null;
  let stopping = false;
  const ready = new Set<Worker>();
  let announced = false;
  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: unknown) => {
      if (typeof message !== 'object' || message === null || !(READY in message)) return;
      ready.add(worker);
      if (announced) log(`worker ${worker.process.pid} listening (replaces one that exited)`);
      if (!announced && ready.size === workers) {
        announced = true;
        const m = message as { [READY]: string; details: string };
        log(
          `listening on ${m[READY]} (${workers} workers, ${brokerName === 'in-memory' ? 'shared in-memory' : brokerName} hub${m.details})`,
        );
      }
    });
    return worker;
  };
  for (let i = 0; i < workers; i++) fork();

  let failedStarts = 0;
  let code = 0;
  const alive = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  const exitCode = await new Promise<number>((resolve) => {
    const stopAll = (): void => {
      stopping = true;
      const rest = alive();
      if (rest.length === 0) resolve(code);
      for (const worker of rest) worker.process.kill('SIGTERM');
    };
    cluster.on('exit', (worker, exitCode, signal) => {
      const wasReady = ready.delete(worker);
      if (stopping) {
        if (alive().length === 0) resolve(code);
        return;
      }
      log(`error: worker ${worker.process.pid} exited (${signal ?? exitCode})`);
      // A worker that dies before it listens (port taken, Redis unreachable) would loop forever.
      if (!wasReady && ++failedStarts >= workers) {
        log('error: workers keep failing to start; stopping');
        code = 1;
        stopAll();
        return;
      }
      fork();
    });
    const stop = (signal: string): void => {
      if (stopping) return;
      log(`${signal}: stopping`);
      stopAll();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await served?.close();
  await memory?.close();
  log('stopped');
  return exitCode;
}

/** A Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

function wholeNumber(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}
