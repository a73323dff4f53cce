/**
 * Authorization of subscribe and publish requests: the hook the hub calls, and a ready JWT mode
 * in the spirit of Mercure's authorization (the token's claims list the topics its holder may
 * subscribe to and publish on). JWT verification is `jose`'s, loaded on first use, so the hub
 * itself has no runtime dependency.
 */
import { checkNumber } from '../server/options.js';

/** What a request wants to do. */
export type HubAction = 'subscribe' | 'publish';

/** What the hub hands the {@link Authorize} hook. */
export interface AuthorizeContext {
  /** The HTTP request, when the call came from one (`handler`, `subscribe(request)`). */
  readonly request: Request | undefined;
  readonly action: HubAction;
  /** Every topic of the subscription or publish; all of them must be allowed. */
  readonly topics: readonly string[];
}

/**
 * The verdict: `true` allows; `{ expiresAt }` allows until that time (ms since the epoch: a
 * subscription is then ended with a retry hint, so the client comes back with fresh
 * credentials); `false` or `'forbidden'` answers 403; `'unauthenticated'` answers 401 (no
 * credentials, or credentials that do not check out).
 */
export type AuthorizeResult = boolean | 'forbidden' | 'unauthenticated' | { readonly expiresAt: number };

/**
 * Decides whether a request may subscribe to or publish on all of its topics. It runs before
 * any byte of the stream is sent, so no event of a refused topic ever leaves, replays included.
 *
 * @example
 * ```ts
 * const hub = createHub({
 *   authorize: ({ request, action, topics }) =>
 *     action === 'subscribe' ? topics.every((t) => t.startsWith('public/')) : request?.headers.get('x-admin') === 'yes',
 * });
 * ```
 */
export type Authorize = (context: AuthorizeContext) => AuthorizeResult | Promise<AuthorizeResult>;

/** The runtime's Web Crypto `CryptoKey` (DOM, worker or Node types alike). */
// The global type `CryptoKey` exists in the DOM and worker libs only (Node's type definitions
// have it as `webcrypto.CryptoKey` of `node:crypto`), so it is read off what every runtime's
// types declare, the result of `crypto.subtle.generateKey`, as `jose` does; with no `crypto`
// global at all, the key's shape.
type RuntimeCryptoKey = typeof globalThis extends {
  // biome-ignore lint/suspicious/noExplicitAny: matches any overload of generateKey
  crypto: { subtle: { generateKey(...args: any[]): Promise<infer R> } };
}
  ? Extract<R, { type: string }>
  : { readonly type: string; readonly algorithm: { name: string }; readonly extractable: boolean };

/** A verification key as `jose` takes it: an HMAC secret, a `CryptoKey`, or a key-getter (JWKS). */
export type JwtKey =
  | Uint8Array
  | RuntimeCryptoKey
  | ((
      protectedHeader: unknown,
      token: unknown,
    ) => Promise<Uint8Array | RuntimeCryptoKey> | Uint8Array | RuntimeCryptoKey);

/** Options of {@link jwtAuthorizer}. */
export interface JwtAuthorizerOptions {
  /** The key that verifies token signatures. */
  key: JwtKey;
  /** Accepted algorithms, for example `['HS256']` or `['ES256']`. Required: never trust `alg`. */
  algorithms: string[];
  /** Expected `iss`, when set. */
  issuer?: string | string[];
  /** Expected `aud`, when set. */
  audience?: string | string[];
  /** Leeway for `exp`/`nbf`, ms (jose takes seconds: it is handed `clockTolerance / 1000`). Default 0. */
  clockTolerance?: number;
  /**
   * Claim that lists the topics: `{ subscribe?: string[], publish?: string[] }`. Default
   * `'ssekit'`. A pattern is a topic, a prefix ending in `*` (`'chat/*'`), or `'*'` for all.
   */
  claim?: string;
  /** Cookie read when there is no `Authorization: Bearer` header. Default `'ssekit_token'`. */
  cookie?: string | false;
  /**
   * Query parameter read as a last resort, for clients that can set neither header nor cookie.
   * Off by default: URLs end up in logs.
   */
  queryParam?: string | false;
}

type JwtVerify = (
  token: string,
  key: unknown,
  options: Record<string, unknown>,
) => Promise<{ payload: Record<string, unknown> }>;

let joseModule: Promise<{ jwtVerify: JwtVerify }> | undefined;

/** Loads `jose` once; a missing install is reported as such, on first use. */
function loadJose(): Promise<{ jwtVerify: JwtVerify }> {
  joseModule ??= import('jose').then(
    (mod) => mod as unknown as { jwtVerify: JwtVerify },
    (error: unknown) => {
      joseModule = undefined;
      throw new Error('jwtAuthorizer needs the `jose` package: npm install jose', { cause: error });
    },
  );
  return joseModule;
}

/** True when `topic` matches one of the claim's patterns. */
export function topicAllowed(patterns: readonly unknown[], topic: string): boolean {
  for (const pattern of patterns) {
    if (typeof pattern !== 'string') continue;
    if (pattern === '*' || pattern === topic) return true;
    if (pattern.endsWith('*') && topic.startsWith(pattern.slice(0, -1))) return true;
  }
  return false;
}

/** The bearer token of a request: `Authorization` header, then cookie, then query parameter. */
export function tokenFrom(
  request: Request,
  cookie: string | false = 'ssekit_token',
  queryParam: string | false = false,
): string | undefined {
  const authorization = request.headers.get('authorization');
  if (authorization !== null) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  if (cookie !== false) {
    const header = request.headers.get('cookie');
    if (header !== null) {
      for (const part of header.split(';')) {
        const eq = part.indexOf('=');
        if (eq !== -1 && part.slice(0, eq).trim() === cookie) {
          const value = part.slice(eq + 1).trim();
          if (value !== '') return value;
        }
      }
    }
  }
  if (queryParam !== false) {
    const value = new URL(request.url).searchParams.get(queryParam);
    if (value !== null && value !== '') return value;
  }
  return undefined;
}

/**
 * An {@link Authorize} hook that accepts a JWT (RFC 7519) signed with `key`, and allows an action
 * on topics listed in its claim:
 *
 * ```json
 * { "sub": "user-1", "exp": 1700003600, "ssekit": { "subscribe": ["news", "user/1/*"], "publish": [] } }
 * ```
 *
 * No token, or a token that fails verification (signature, algorithm, expiry, issuer,
 * audience) answers 401; a valid token whose claim does not cover every topic answers 403. A
 * subscription made with a token that has an `exp` ends at `exp` (plus `clockTolerance`) with a
 * retry hint: a stream never outlives its token.
 * Calls without a request (plain `subscribe({...})`, `publish()` from server code) are trusted.
 *
 * @example
 * ```ts
 * import { createHub, jwtAuthorizer } from 'ssekit/hub';
 *
 * const hub = createHub({
 *   authorize: jwtAuthorizer({ key: new TextEncoder().encode(process.env.JWT_SECRET), algorithms: ['HS256'] }),
 * });
 * ```
 */
export function jwtAuthorizer(options: JwtAuthorizerOptions): Authorize {
  if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
    throw new TypeError('jwtAuthorizer needs a non-empty `algorithms` list');
  }
  const claim = options.claim ?? 'ssekit';
  const verifyOptions: Record<string, unknown> = { algorithms: options.algorithms };
  if (options.issuer !== undefined) verifyOptions.issuer = options.issuer;
  if (options.audience !== undefined) verifyOptions.audience = options.audience;
  const tolerance = checkNumber('clockTolerance', options.clockTolerance ?? 0, { min: 0 });
  if (tolerance > 0) verifyOptions.clockTolerance = tolerance / 1000;

  return async ({ request, action, topics }) => {
    if (request === undefined) return true;
    const token = tokenFrom(request, options.cookie ?? 'ssekit_token', options.queryParam ?? false);
    if (token === undefined) return 'unauthenticated';
    const { jwtVerify } = await loadJose();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, options.key, verifyOptions));
    } catch {
      // Any verification failure (bad signature, expired, wrong alg...) means "not who you say".
      return 'unauthenticated';
    }
    const grants = payload[claim];
    if (typeof grants !== 'object' || grants === null) return 'forbidden';
    const patterns = (grants as Record<string, unknown>)[action];
    if (!Array.isArray(patterns)) return 'forbidden';
    if (!topics.every((topic) => topicAllowed(patterns, topic))) return 'forbidden';
    // RFC 7519 §4.1.4: `exp` is in seconds since the epoch; `expiresAt` in ms.
    const exp = payload.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return true;
    return { expiresAt: exp * 1000 + tolerance };
  };
}
