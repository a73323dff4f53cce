/**
 * What `ssekit serve` answers around the hub: the Host check (DNS rebinding), CORS with
 * credentials for listed origins, `/healthz`, `/metrics` (here or on its own address), `405`s,
 * and `X-Content-Type-Options: nosniff` on every answer, the adapter's own included.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequestListener, type NodeRequestContext } from '../adapters/node/index.js';
import { hostAllowed, hostnameOf, isLoopbackHostname } from '../hub/hosts.js';
import type { Hub } from '../hub/index.js';
import { PROMETHEUS_CONTENT_TYPE } from '../hub/index.js';

/** Seconds a browser may cache a preflight answer (Chromium caps it at 7,200). */
const PREFLIGHT_MAX_AGE = '600';
const HUB_METHODS = 'GET, HEAD, POST, OPTIONS';
const READ_METHODS = 'GET, HEAD';

type Handler = (request: Request, context: NodeRequestContext) => Promise<Response>;

/** A `Host` check from `--allowed-hosts` (or its loopback default). */
export function hostCheck(allowed: readonly string[] | 'loopback'): (host: string | null) => boolean {
  if (allowed !== 'loopback') return (host) => hostAllowed(host, allowed);
  return (host) => {
    const name = host === null ? undefined : hostnameOf(host);
    return name !== undefined && isLoopbackHostname(name);
  };
}

const text = (status: number, body: string, headers?: Record<string, string>): Response =>
  new Response(`${body}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });

const metricsResponse = (hub: Hub): Response =>
  new Response(hub.prometheus(), { headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } });

export interface ServeHandlerOptions {
  hub: Hub;
  hostAllowed: (host: string | null) => boolean;
  /** `--cors`: `['*']` or origins. */
  origins: readonly string[];
  /** Auth is on, so a browser's cookie may be what authenticates it. */
  cookies: boolean;
  /** Whether `/metrics` is answered on this listener. */
  metrics: boolean;
  /** Named in an `ssekit-worker` header (under `--workers`). */
  worker?: string;
}

/** The main listener's Web handler: `/` is the hub, plus `/healthz` and maybe `/metrics`. */
export function serveHandler(options: ServeHandlerOptions): Handler {
  const { hub, origins } = options;
  const wildcard = origins.includes('*');
  const listed = new Set(origins);

  // CORS (Fetch §3.2): a listed origin is echoed with credentials allowed, so a browser's
  // EventSource `withCredentials` (the only way it can authenticate: it sets no headers) gets
  // its answer. Never with `*`: browsers refuse credentials with a wildcard, and an open list
  // would hand the user's cookie to any site.
  const corsFor = (request: Request, preflight: boolean): [string, string][] => {
    if (origins.length === 0) return [];
    const origin = request.headers.get('origin');
    // The answer differs by Origin: caches must keep one per origin.
    const vary: [string, string][] = wildcard ? [] : [['vary', 'origin']];
    if (origin === null || (!wildcard && !listed.has(origin))) return vary;
    const headers: [string, string][] = [
      ['access-control-allow-origin', wildcard ? '*' : origin],
      ['access-control-expose-headers', 'ssekit-resume'],
      ...vary,
    ];
    if (options.cookies && !wildcard) headers.push(['access-control-allow-credentials', 'true']);
    if (preflight) {
      headers.push(
        ['access-control-allow-headers', 'authorization, content-type, last-event-id'],
        ['access-control-allow-methods', HUB_METHODS],
        ['access-control-max-age', PREFLIGHT_MAX_AGE],
      );
    }
    return headers;
  };

  const route = async (request: Request, context: NodeRequestContext): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const read = request.method === 'GET' || request.method === 'HEAD';
    if (pathname === '/healthz') {
      // Nothing but liveness: a pid or a version helps an attacker more than a load balancer.
      return read ? Response.json({ ok: true }) : text(405, 'method not allowed', { allow: READ_METHODS });
    }
    if (pathname === '/metrics' && options.metrics) {
      return read ? metricsResponse(hub) : text(405, 'method not allowed', { allow: READ_METHODS });
    }
    if (pathname !== '/') return text(404, 'not found');
    if (request.method === 'OPTIONS')
      return new Response(null, { status: 204, headers: { allow: HUB_METHODS } });
    return hub.handler(request, context);
  };

  return async (request, context) => {
    // Before anything else, on every path: a name this server is not known by is a rebinding.
    if (!options.hostAllowed(request.headers.get('host'))) return text(403, 'host not allowed');
    const response = await route(request, context);
    const preflight = request.method === 'OPTIONS' && request.headers.has('access-control-request-method');
    for (const [name, value] of corsFor(request, preflight)) {
      if (name === 'vary') response.headers.append(name, value);
      else response.headers.set(name, value);
    }
    if (options.worker !== undefined) response.headers.set('ssekit-worker', options.worker);
    return response;
  };
}

/** The `--metrics-listen` listener's Web handler: `/metrics` and nothing else. */
export function metricsHandler(hub: Hub, allowed: (host: string | null) => boolean): Handler {
  return async (request) => {
    if (!allowed(request.headers.get('host'))) return text(403, 'host not allowed');
    if (new URL(request.url).pathname !== '/metrics') return text(404, 'not found');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return text(405, 'method not allowed', { allow: READ_METHODS });
    }
    return metricsResponse(hub);
  };
}

/**
 * The node listener around a handler: `nosniff` is set before the adapter or the handler writes
 * anything, so it reaches every answer (a `405` for `TRACE` and a `500` included).
 */
export function nodeListener(
  handler: Handler,
  allow: string,
  onError: (error: unknown) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = createRequestListener(handler, { onError, allow });
  return (req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    listener(req, res);
  };
}

/**
 * node:http hands `CONNECT` to a 'connect' listener, and with none it drops the connection
 * without a word. A hub is no proxy: `405`, in the same words as the other refusals.
 */
export function refuseConnect(allow: string): (req: IncomingMessage, socket: Duplex) => void {
  return (_req, socket) => {
    socket.on('error', () => {});
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\n' +
        `Allow: ${allow}\r\n` +
        'X-Content-Type-Options: nosniff\r\n' +
        'Content-Length: 0\r\n' +
        'Connection: close\r\n\r\n',
    );
  };
}

export { HUB_METHODS, READ_METHODS };
