/**
 * The hub's HTTP side: the fetch-style handler, reading a request (topics, resume point, publish
 * body), and every error turned into an answer in one place. The rest of the hub never builds a
 * `Response` except the stream itself.
 *
 * What it refuses before doing any work: a `Host` not allowed (DNS rebinding), methods it does
 * not serve, publishes that are not `application/json` (a cross-site HTML form or `text/plain`
 * beacon cannot send that without a CORS preflight), and a cookie-authenticated publish from an
 * origin not allowed (CSRF).
 */
import { readBodyText } from '../server/body.js';
import { isRequestBodyError, LastEventIdError } from '../server/errors.js';
import { readLastEventId } from '../server/last-event-id.js';
import { retryAfterHeader } from '../server/options.js';
import { sseHeaders } from '../server/response.js';
import type { Authorize, AuthorizeResult } from './auth.js';
import { isHubClosedError, isHubInputError } from './errors.js';
import type { Fanout, HubCounters, Subscriber } from './fanout.js';
import { hostAllowed, originAllowed } from './hosts.js';
import type { createReplay } from './replay.js';
import { MAX_ID_LENGTH, RESUME_HEADER } from './replay.js';
import { checkEvent, checkTopics, type TopicRules } from './rules.js';

/** What the runtime adapter knows about a request that `Request` does not carry. */
export interface SubscribeContext {
  /** The peer's address, counted against `maxSubscribersPerAddress`. */
  clientAddress?: string;
}

/** Plain subscribe options, for server code that has already decided who may see what. */
export interface SubscribeOptions {
  topics: readonly string[];
  /** Resume after this id, as if the client had sent `Last-Event-ID`. */
  lastEventId?: string;
  /** When given, the `authorize` hook runs with it. Without it the call is trusted. */
  request?: Request;
  /** Counted against `maxSubscribersPerAddress`. */
  clientAddress?: string;
}

/** A publish through `Hub.publish`: a string is shorthand for `{ data }`. */
export interface PublishEvent {
  /** SSE event type (no CR or LF). Default: none, which clients see as `message`. */
  event?: string;
  data: string;
}

export interface HttpOptions extends TopicRules {
  readonly fanout: Fanout;
  readonly replay: ReturnType<typeof createReplay>;
  readonly counters: HubCounters;
  readonly rejected: Record<string, number>;
  readonly authorize: Authorize | undefined;
  readonly maxSubscribers: number;
  readonly maxSubscribersPerAddress: number;
  readonly maxPublishBytes: number;
  /** ms, for `Retry-After`. */
  readonly retryAfter: number;
  readonly headers: RequestInit['headers'];
  readonly allowedHosts: readonly string[] | undefined;
  readonly allowedOrigins: readonly string[];
  readonly retryBytes: () => Uint8Array;
  readonly closing: () => boolean;
  readonly onError: (error: unknown) => void;
  readonly publish: (topics: readonly string[], event: PublishEvent) => Promise<string>;
}

// Not a valid id of any broker, so a resume from it is a reset with reason `invalid-id`.
const INVALID_ID = '\u0000invalid';
const TEXT = 'text/plain; charset=utf-8';
const NOSNIFF = { 'x-content-type-options': 'nosniff' };

function isRequest(value: unknown): value is Request {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Request).url === 'string' &&
    typeof (value as Request).headers?.get === 'function' &&
    typeof (value as Request).method === 'string'
  );
}

/** The query of a URL, without parsing the rest of it (one per subscriber: it adds up). */
function queryOf(url: string): URLSearchParams {
  const start = url.indexOf('?');
  if (start === -1) return new URLSearchParams();
  const end = url.indexOf('#', start);
  return new URLSearchParams(end === -1 ? url.slice(start + 1) : url.slice(start + 1, end));
}

/** The request's resume point: `undefined` (none), or an id (`INVALID_ID` for a bad one). */
function resumePoint(request: Request): string | undefined {
  try {
    return readLastEventId(request, { maxLength: MAX_ID_LENGTH, invalidId: 'throw' });
  } catch (error) {
    // A client that sent an id has state, even if its id is unreadable: it must be reset.
    if (error instanceof LastEventIdError) return INVALID_ID;
    throw error;
  }
}

/** `application/json`, with or without parameters (RFC 9110 §8.3.1: the type is case-insensitive). */
function isJson(contentType: string | null): boolean {
  if (contentType === null) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

export function createHttp(options: HttpOptions) {
  const { fanout, replay, counters, rejected, authorize } = options;
  const retryAfter = retryAfterHeader(options.retryAfter);

  // Built once, as pairs: each stream response copies them cheaply, and several Set-Cookie
  // values stay apart. The user's headers win over the defaults, as with `sseHeaders`.
  const streamHeaders = headerPairs(sseHeaders(options.headers));
  const withResume = (value: 'replay' | 'reset'): [string, string][] => [
    ...streamHeaders,
    [RESUME_HEADER, value],
  ];

  const refuse = (status: number, message: string, headers?: Record<string, string>): Response => {
    rejected[status] = (rejected[status] ?? 0) + 1;
    return new Response(`${message}\n`, {
      status,
      headers: { 'content-type': TEXT, ...NOSNIFF, ...headers },
    });
  };
  const unavailable = (message: string): Response => refuse(503, message, { 'retry-after': retryAfter });

  const verdict = (result: AuthorizeResult): Response | undefined => {
    if (result === true || (typeof result === 'object' && result !== null)) return undefined;
    if (result === 'unauthenticated') return refuse(401, 'unauthorized', { 'www-authenticate': 'Bearer' });
    return refuse(403, 'forbidden');
  };

  const capacityProblem = (address: string | undefined): string | undefined => {
    if (fanout.subscribers.size >= options.maxSubscribers) return 'too many subscribers';
    if (address !== undefined && fanout.countOf(address) >= options.maxSubscribersPerAddress) {
      return 'too many subscribers from this address';
    }
    return undefined;
  };

  /** Ends the stream when the authorization expires, with a retry hint (the client re-auths). */
  const expireAt = (sub: Subscriber, expiresAt: number): void => {
    const ms = Math.max(0, expiresAt - Date.now());
    // Past this, setTimeout fires at once; such a far expiry is no expiry in practice.
    if (ms > 2_147_483_647) return;
    sub.expiry = setTimeout(() => {
      if (sub.released) return;
      counters.tokenExpiries++;
      fanout.end(sub);
    }, ms);
    (sub.expiry as { unref?: () => void }).unref?.();
  };

  async function subscribe(input: Request | SubscribeOptions, context?: SubscribeContext): Promise<Response> {
    let request: Request | undefined;
    let rawTopics: readonly unknown[];
    let lastEventId: string | undefined;
    let address: string | undefined;
    if (isRequest(input)) {
      request = input;
      rawTopics = queryOf(request.url).getAll('topic');
      lastEventId = resumePoint(request);
      address = context?.clientAddress;
    } else {
      request = input.request;
      rawTopics = input.topics;
      lastEventId = input.lastEventId;
      address = input.clientAddress;
    }
    if (options.closing()) return unavailable('shutting down');
    let wanted: string[];
    try {
      wanted = checkTopics(rawTopics, options);
    } catch (error) {
      return refuse(400, (error as Error).message);
    }
    const full = capacityProblem(address);
    if (full !== undefined) return unavailable(full);
    let expiresAt: number | undefined;
    if (authorize !== undefined && request !== undefined) {
      const result = await authorize({ request, action: 'subscribe', topics: wanted });
      const refused = verdict(result);
      if (refused !== undefined) return refused;
      if (typeof result === 'object' && result !== null) expiresAt = result.expiresAt;
      if (expiresAt !== undefined && expiresAt <= Date.now()) {
        return refuse(401, 'unauthorized', { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      if (options.closing()) return unavailable('shutting down');
      const stillFull = capacityProblem(address);
      if (stillFull !== undefined) return unavailable(stillFull);
    }
    if (request?.method === 'HEAD') return new Response(null, { status: 200, headers: streamHeaders });

    const sub = fanout.add(wanted, address, lastEventId !== undefined);
    let opening: Awaited<ReturnType<typeof replay.open>>;
    try {
      opening = await replay.open(sub, lastEventId);
    } catch (error) {
      fanout.release(sub);
      options.onError(error);
      return unavailable('the event store is unavailable');
    }
    if (options.closing()) {
      fanout.release(sub);
      return unavailable('shutting down');
    }
    if (expiresAt !== undefined && !sub.released) expireAt(sub, expiresAt);
    const headers = opening === 'live' ? streamHeaders : withResume(opening);
    return new Response(sub.outlet.stream, { status: 200, headers });
  }

  const handlePublish = async (request: Request): Promise<Response> => {
    if (options.closing()) return unavailable('shutting down');
    if (!isJson(request.headers.get('content-type'))) {
      return refuse(415, 'a publish body must be application/json', { 'accept-post': 'application/json' });
    }
    // A cookie is sent by the browser on its own; an origin not allowed must not ride on it.
    if (
      request.headers.get('cookie') !== null &&
      request.headers.get('authorization') === null &&
      !originAllowed(request.headers.get('origin'), request.headers.get('host'), options.allowedOrigins)
    ) {
      return refuse(403, 'cross-origin publish with cookies refused');
    }
    let text: string;
    try {
      text = await readBodyText(request, { maxBytes: options.maxPublishBytes });
    } catch (error) {
      // The rest of an oversized body is never read: the connection cannot carry another request.
      if (isRequestBodyError(error) && error.type === 'too-large') {
        return refuse(413, 'publish body too large', { connection: 'close' });
      }
      return refuse(400, 'unreadable body (not UTF-8, or the client went away)');
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return refuse(400, 'the body must be JSON: { "topic": ..., "data": "..." }');
    }
    if (typeof body !== 'object' || body === null) return refuse(400, 'the body must be a JSON object');
    const { topic } = body as { topic?: unknown };
    let list: string[];
    let event: PublishEvent;
    try {
      list = checkTopics(typeof topic === 'string' ? [topic] : Array.isArray(topic) ? topic : [], options);
      const checked = checkEvent(body);
      event = checked.event === undefined ? { data: checked.data } : checked;
    } catch (error) {
      return refuse(400, (error as Error).message);
    }
    if (authorize !== undefined) {
      const refused = verdict(await authorize({ request, action: 'publish', topics: list }));
      if (refused !== undefined) return refused;
    }
    try {
      const id = await options.publish(list, event);
      return Response.json({ id }, { headers: NOSNIFF });
    } catch (error) {
      if (isHubClosedError(error)) return unavailable('shutting down');
      if (isHubInputError(error)) return refuse(400, error.message);
      options.onError(error);
      return unavailable('the event store is unavailable');
    }
  };

  const handler = async (request: Request, context?: SubscribeContext): Promise<Response> => {
    if (
      options.allowedHosts !== undefined &&
      !hostAllowed(request.headers.get('host'), options.allowedHosts)
    ) {
      return refuse(403, 'host not allowed');
    }
    const method = request.method;
    if (method === 'GET' || method === 'HEAD') return subscribe(request, context);
    if (method === 'POST') return handlePublish(request);
    return refuse(405, 'method not allowed', { allow: 'GET, HEAD, POST' });
  };

  return { subscribe, handler, unavailable };
}

/** A `Headers` as pairs, with each Set-Cookie value on its own. */
function headerPairs(headers: Headers): [string, string][] {
  const pairs: [string, string][] = [];
  headers.forEach((value, name) => {
    if (name !== 'set-cookie') pairs.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) pairs.push(['set-cookie', cookie]);
  return pairs;
}
