/** `ssekit serve`'s flags, read and checked into one config (usage errors exit 2). */
import { readFile } from 'node:fs/promises';
import { subscriberCapacity } from '../adapters/node/limits.js';
import { isLoopbackHostname } from '../hub/hosts.js';
import { checkNumber } from '../server/options.js';
import { parseFlags, UsageError } from './shared.js';

/** Where a listener listens. */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServeConfig {
  listen: ListenAddress;
  workers: number;
  redisUrl: string | undefined;
  redisPrefix: string | undefined;
  /** The HS256 secret, when auth is on. */
  secret: string | undefined;
  /** `--cors`: `['*']`, or origins as browsers serialize them. */
  origins: readonly string[];
  /** `Host` names answered: a list for `hostAllowed`, or loopback names only. */
  allowedHosts: readonly string[] | 'loopback';
  /** `--metrics-listen`, when metrics have their own address. */
  metricsListen: ListenAddress | undefined;
  limits: { maxSubscribers: number; maxSubscribersPerAddress: number };
  history: { maxEvents: number; maxBytes?: number; maxTotalBytes?: number };
  /** ms, like every duration of ssekit (and as node wants them). */
  headersTimeout: number;
  requestTimeout: number;
}

/** Defaults of the flags, where the help text states them. */
export const SERVE_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  history: 1000,
  maxSubscribersPerAddress: 1000,
  headersTimeout: 10_000,
  requestTimeout: 15_000,
} as const;

/** The config, or `'help'` for `--help` (whatever else is given). */
export async function readServeConfig(argv: string[]): Promise<ServeConfig | 'help'> {
  const { values, positionals } = parseFlags(argv, {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    'allowed-hosts': { type: 'string' },
    redis: { type: 'string' },
    'redis-prefix': { type: 'string' },
    workers: { type: 'string' },
    'jwt-secret': { type: 'string' },
    'jwt-key-file': { type: 'string' },
    cors: { type: 'string' },
    'metrics-listen': { type: 'string' },
    history: { type: 'string' },
    'history-bytes': { type: 'string' },
    'history-total-bytes': { type: 'string' },
    'max-subscribers': { type: 'string' },
    'max-subscribers-per-address': { type: 'string' },
    'headers-timeout': { type: 'string' },
    'request-timeout': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got ${positionals[0]}`);
  const host = values.host ?? SERVE_DEFAULTS.host;
  const port = wholeNumber('--port', values.port ?? String(SERVE_DEFAULTS.port), 0, 65535);
  const workers = wholeNumber('--workers', values.workers ?? '1', 1, 256);

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

  const history: ServeConfig['history'] = {
    maxEvents: wholeNumber('--history', values.history ?? String(SERVE_DEFAULTS.history), 1, 1_000_000),
  };
  if (values['history-bytes'] !== undefined)
    history.maxBytes = bytes('--history-bytes', values['history-bytes']);
  if (values['history-total-bytes'] !== undefined) {
    history.maxTotalBytes = bytes('--history-total-bytes', values['history-total-bytes']);
  }
  if (redisUrl !== undefined && (history.maxBytes !== undefined || history.maxTotalBytes !== undefined)) {
    // Redis trims its streams by length (MAXLEN); there is no byte bound to hand it.
    throw new UsageError('--history-bytes and --history-total-bytes apply to the in-memory hub, not --redis');
  }

  const perAddress = wholeNumber(
    '--max-subscribers-per-address',
    values['max-subscribers-per-address'] ?? String(SERVE_DEFAULTS.maxSubscribersPerAddress),
    0,
    10_000_000,
  );
  const limits = {
    // The open-files limit minus a reserve, so a flood gets 503 before descriptors run out.
    maxSubscribers:
      values['max-subscribers'] === undefined
        ? subscriberCapacity()
        : wholeNumber('--max-subscribers', values['max-subscribers'], 1, 10_000_000),
    // 0 turns the per-address bound off (behind a proxy every client has the proxy's address).
    maxSubscribersPerAddress: perAddress === 0 ? Number.POSITIVE_INFINITY : perAddress,
  };

  const requestTimeout =
    values['request-timeout'] === undefined
      ? SERVE_DEFAULTS.requestTimeout
      : milliseconds('--request-timeout', values['request-timeout']);
  // node refuses a header deadline past the request deadline; the request one covers both.
  const headersTimeout = Math.min(
    requestTimeout,
    values['headers-timeout'] === undefined
      ? SERVE_DEFAULTS.headersTimeout
      : milliseconds('--headers-timeout', values['headers-timeout']),
  );

  return {
    listen: { host, port },
    workers,
    redisUrl,
    redisPrefix: values['redis-prefix'],
    secret,
    origins: corsOrigins(values.cors),
    allowedHosts: allowedHosts(values['allowed-hosts'], host),
    metricsListen:
      values['metrics-listen'] === undefined
        ? undefined
        : listenAddress('--metrics-listen', values['metrics-listen']),
    limits,
    history,
    headersTimeout,
    requestTimeout,
  };
}

/**
 * The default follows the listen address: on loopback, only loopback names (a page on another
 * name that resolves to 127.0.0.1 is a DNS-rebinding attempt); elsewhere any name, since the
 * server cannot know the names it is reached by: list them with --allowed-hosts.
 */
function allowedHosts(flag: string | undefined, host: string): readonly string[] | 'loopback' {
  if (flag === undefined) return isLoopbackHostname(host) ? 'loopback' : ['*'];
  const list = flag
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError('--allowed-hosts needs at least one host name (or *)');
  for (const entry of list) {
    if (entry !== '*' && !/^\.?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._:-]+)$/.test(entry)) {
      throw new UsageError(`--allowed-hosts: ${JSON.stringify(entry)} is not a host name`);
    }
  }
  return list;
}

function corsOrigins(flag: string | undefined): readonly string[] {
  const list =
    flag
      ?.split(',')
      .map((o) => o.trim())
      .filter(Boolean) ?? [];
  if (list.includes('*')) {
    if (list.length > 1) throw new UsageError('--cors takes * alone, or a list of origins');
    return list;
  }
  return list.map((entry) => {
    let origin: string;
    try {
      origin = new URL(entry).origin;
    } catch {
      throw new UsageError(`--cors: ${JSON.stringify(entry)} is not an origin (https://app.example.com)`);
    }
    // An origin is scheme, host and port: a path or a typo would never match a browser's Origin.
    if (origin === 'null' || origin !== entry.replace(/\/$/, '').toLowerCase()) {
      throw new UsageError(`--cors: ${JSON.stringify(entry)} is not an origin (did you mean ${origin}?)`);
    }
    return origin;
  });
}

/** `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
function listenAddress(name: string, value: string): ListenAddress {
  if (/^\d+$/.test(value)) return { host: '127.0.0.1', port: wholeNumber(name, value, 0, 65535) };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(value);
  if (match === null) throw new UsageError(`${name} must be host:port, [v6]:port or a port`);
  return { host: match[1] ?? match[2]!, port: wholeNumber(name, match[3]!, 0, 65535) };
}

export function wholeNumber(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * A duration flag, in ms, held to the rule of every numeric option of the server side
 * (`checkNumber`: a positive integer); the error quotes the flag as typed.
 */
function milliseconds(name: string, value: string): number {
  // Number() reads '' as 0 and '0x10' as 16: only a decimal numeral counts here.
  const n = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : Number.NaN;
  try {
    return checkNumber(name, n);
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split(', got ')[0]} (ms), got ${value}`);
  }
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A byte count: `65536`, or with a binary unit, `64k`, `8m`, `1g` (KiB, MiB, GiB). */
function bytes(name: string, value: string): number {
  const match = /^(\d+)(?:([kmg])(?:i?b)?|b)?$/i.exec(value);
  const n = match === null ? Number.NaN : Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${name} must be a number of bytes, optionally with k, m or g (KiB, MiB, GiB)`);
  }
  return n;
}
