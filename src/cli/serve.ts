import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClusterBroker, serveClusterBroker } from '../adapters/node/index.js';
import { redactUrl } from '../adapters/redis/url.js';
import { isLoopbackHostname } from '../hub/hosts.js';
import {
  type Broker,
  createHub,
  createMemoryBroker,
  type HistoryLimits,
  jwtAuthorizer,
} from '../hub/index.js';
import {
  HUB_METHODS,
  hostCheck,
  metricsHandler,
  nodeListener,
  READ_METHODS,
  refuseConnect,
  serveHandler,
} from './serve-http.js';
import { type ListenAddress, readServeConfig } from './serve-options.js';
import { out, UsageError } from './shared.js';

export const SERVE_HELP = `Usage: ssekit serve [options]

Runs a hub: GET /?topic=a&topic=b subscribes (resuming from Last-Event-ID),
POST / with {"topic","event","data"} (Content-Type: application/json) publishes,
GET /healthz answers {"ok":true}, GET /metrics is Prometheus text (see --metrics-listen).

Options:
  -p, --port <n>           port (default 8080; 0 picks a free one)
      --host <addr>        address to listen on (default 127.0.0.1; 0.0.0.0 for all)
      --allowed-hosts <l>  comma-separated Host names answered, others get 403 (DNS rebinding);
                           .example.com takes the domain and its subdomains, * any. Default:
                           loopback names (localhost, 127.x, ::1) when --host is loopback,
                           else any: list your names when the hub is reachable from outside
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
      --cors <origins>     comma-separated origins allowed to call from a browser, or * alone;
                           with a JWT option, listed origins may send the cookie (credentials),
                           * never does (bearer tokens only)
      --metrics-listen <a> serve /metrics on its own address (host:port, or a port on
                           127.0.0.1), and not on the hub's port. Without it, /metrics is on
                           the hub's port unless a JWT option is given (then nowhere)
      --history <n>        events kept per topic for resume (default 1000; with --redis,
                           the approximate length of each topic's stream)
      --history-bytes <n>  bytes of history kept per topic (k, m, g: KiB, MiB, GiB; in memory)
      --history-total-bytes <n>
                           bytes of history kept over all topics (in memory)
      --max-subscribers <n>
                           open streams per process, past it 503 + Retry-After (default: the
                           open-files limit minus 10% (at least 64) for everything else, at most
                           10000)
      --max-subscribers-per-address <n>
                           open streams per client address (default 1000; 0 for no limit,
                           behind a proxy where every client has the proxy's address)
      --headers-timeout <ms>
                           ms a client has to send its request headers (default 10000)
      --request-timeout <ms>
                           ms a client has to send a whole request, body included
                           (default 15000; streams are not cut: they are responses)
  -h, --help               this help

Examples:
  ssekit serve --port 8080
  ssekit serve --jwt-secret "$SECRET" --cors https://app.example.com
  ssekit serve --host 0.0.0.0 --allowed-hosts hub.example.com --metrics-listen 127.0.0.1:9090
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
  const config = await readServeConfig(argv);
  if (config === 'help') {
    await out(SERVE_HELP);
    return 0;
  }
  const { redisUrl, secret, origins } = config;
  // The history bounds (events, age, bytes per topic and in all), as the broker takes them.
  const history = config.history as HistoryLimits;
  const brokerName = redisUrl !== undefined ? `Redis ${redactUrl(redisUrl)}` : 'in-memory';

  if (config.workers > 1 && cluster.isPrimary) {
    return primary(
      config.workers,
      redisUrl === undefined ? createMemoryBroker({ history }) : null,
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
      maxLen: config.history.maxEvents,
      ...(config.redisPrefix !== undefined ? { prefix: config.redisPrefix } : {}),
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
    broker = createMemoryBroker({ history });
    closeBroker = () => broker.close();
  }

  const onError = (error: unknown): void => log(`error: ${(error as Error)?.message ?? String(error)}`);
  const hub = createHub({
    broker,
    limits: config.limits,
    ...(secret !== undefined
      ? { authorize: jwtAuthorizer({ key: new TextEncoder().encode(secret), algorithms: ['HS256'] }) }
      : {}),
    // serve checks Host itself, on every path (hostCheck below); the hub needs the origins
    // that may publish with the user's cookie.
    allowedOrigins: origins.includes('*') ? [] : origins,
    onError,
  });

  // Header and body deadlines (ms): a body trickled a byte at a time would otherwise hold
  // a connection for node's default 300 s. node checks them every connectionsCheckingInterval
  // (default 30 s), over the connections still sending a request only.
  const deadlines = {
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    connectionsCheckingInterval: 1000,
  };
  const main = createServer(
    deadlines,
    nodeListener(
      serveHandler({
        hub,
        hostAllowed: hostCheck(config.allowedHosts),
        origins,
        cookies: secret !== undefined,
        // With auth on, the counters are not for everyone: only on --metrics-listen, if at all.
        metrics: config.metricsListen === undefined && secret === undefined,
        ...(cluster.isWorker ? { worker: String(process.pid) } : {}),
      }),
      HUB_METHODS,
      onError,
    ),
  );
  main.on('connect', refuseConnect(HUB_METHODS));
  const servers = [main];
  let url: string;
  let metricsUrl: string | undefined;
  try {
    url = await listenOn(main, config.listen, '--port');
    if (config.metricsListen !== undefined) {
      const metrics = createServer(
        deadlines,
        nodeListener(
          metricsHandler(hub, hostCheck(isLoopbackHostname(config.metricsListen.host) ? 'loopback' : ['*'])),
          READ_METHODS,
          onError,
        ),
      );
      metrics.on('connect', refuseConnect(READ_METHODS));
      servers.push(metrics);
      metricsUrl = `${await listenOn(metrics, config.metricsListen, '--metrics-listen')}/metrics`;
    }
  } catch (error) {
    // Not a usage error: the flags were fine, the machine said no. One line, exit 1, and
    // nothing left open (a Redis connection would keep the process alive).
    log(`error: ${(error as Error).message}`);
    await hub.close({ timeout: 0 }).catch(() => {});
    await closeBroker().catch(() => {});
    for (const server of servers) server.close();
    return 1;
  }

  const details =
    (secret ? ', JWT required' : '') +
    (origins.length ? `, CORS ${origins.join(' ')}` : '') +
    (metricsUrl !== undefined ? `, metrics on ${metricsUrl}` : '');
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
        .close({ timeout: 3000 })
        .catch((error: unknown) => log(`error: ${(error as Error).message}`))
        .then(() => closeBroker())
        .catch((error: unknown) => log(`error: ${(error as Error).message}`))
        .then(() =>
          Promise.all(
            servers.map(
              (server) =>
                new Promise<void>((done) => {
                  server.closeAllConnections();
                  server.close(() => done());
                }),
            ),
          ),
        )
        .then(() => resolve());
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // A worker whose primary is gone stops too, instead of serving on alone.
    if (cluster.isWorker) process.once('disconnect', () => stop('disconnect'));
  });
  if (!cluster.isWorker) log('stopped');
  return 0;
}

/** Listens, and answers with the URL; rejects with one line that says why it cannot. */
async function listenOn(server: Server, { host, port }: ListenAddress, flag: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    throw new Error(listenFailure(error, host, port, flag));
  });
  const address = server.address() as AddressInfo;
  const name = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${name}:${address.port}`;
}

/** Why `listen` failed, in words, with the flag that changes it. */
export function listenFailure(
  error: NodeJS.ErrnoException,
  host: string,
  port: number,
  flag: string,
): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `port ${port} is in use on ${host} (another server holds it; pick another with ${flag})`;
    case 'EACCES':
      return `no permission to listen on port ${port} (ports below 1024 need privileges; pick another with ${flag})`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${host}: no such address on this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${host}: host not found`;
    default:
      return `cannot listen on ${host}:${port}: ${error.code ?? error.message}`;
  }
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
