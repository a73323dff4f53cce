import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createRequestListener } from '../adapters/node/index.js';
import { createHub, jwtAuthorizer } from '../hub/index.js';
import { out, UsageError } from './shared.js';

export const SERVE_HELP = `Usage: ssekit serve [options]

Runs a hub: GET /?topic=a&topic=b subscribes (resuming from Last-Event-ID),
POST / with {"topic","event","data"} publishes, GET /metrics is Prometheus text,
GET /healthz answers {"ok":true}.

Options:
  -p, --port <n>           port (default 8080; 0 picks a free one)
      --host <addr>        address to listen on (default 127.0.0.1; 0.0.0.0 for all)
      --redis <url>        share history and fan-out through Redis (needs ssekit/redis)
      --workers <n>        processes (node:cluster); more than 1 needs --redis
      --jwt-secret <s>     require an HS256 JWT (Authorization: Bearer, or the ssekit_token cookie)
      --jwt-key-file <f>   the same, with the secret read from a file
      --cors <origins>     comma-separated allowed origins, or *
      --history <n>        events kept per topic for resume (default 1000)
  -h, --help               this help

Examples:
  ssekit serve --port 8080
  ssekit serve --jwt-secret "$SECRET" --cors https://app.example.com
  curl -N 'http://localhost:8080/?topic=news'   # then: ssekit publish http://localhost:8080/ news hi
`;

const log = (text: string): void => {
  process.stderr.write(`${new Date().toISOString()} ssekit serve[${process.pid}]: ${text}\n`);
};

export async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
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
  if (values.redis !== undefined) {
    throw new UsageError('--redis: the Redis broker (ssekit/redis) is not available in this build');
  }
  if (workers > 1) {
    // Each worker would have its own in-memory history and fan-out: a publish that lands on one
    // worker would never reach the subscribers of another.
    throw new UsageError(
      '--workers above 1 needs a shared broker (--redis); the in-memory hub lives in one process',
    );
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

  const hub = createHub({
    history: { maxEvents: historyMax },
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
    else if (pathname === '/healthz') response = Response.json({ ok: true });
    else if (pathname === '/metrics') {
      response = new Response(hub.prometheus(), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
    } else if (pathname === '/') response = await hub.handler(request, context);
    else response = Response.json({ error: 'not found' }, { status: 404 });
    for (const [name, value] of Object.entries(cors)) response.headers.set(name, value);
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
  log(
    `listening on http://${host}:${address.port} (in-memory hub${secret ? ', JWT required' : ''}${origins.length ? `, CORS ${origins.join(' ')}` : ''})`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: stopping`);
      void hub
        .close({ timeoutMs: 3000 })
        .catch((error: unknown) => log(`error: ${(error as Error).message}`))
        .then(() => {
          server.closeAllConnections();
          server.close(() => resolve());
        });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  log('stopped');
  return 0;
}

function wholeNumber(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}
