/**
 * Host and Origin checks, shared by the hub's HTTP handler and `ssekit serve`.
 *
 * DNS rebinding: a page on `evil.example` whose name the attacker later points at 127.0.0.1 can
 * make the victim's browser talk to a hub on loopback; the only trace is `Host: evil.example`.
 * A server that answers only the names it is known by (its allowed hosts) is out of reach.
 *
 * Pure: Web globals only (`URL`), no `node:*`.
 */

/** A Host header split into its parts: `hostname` lowercased, IPv6 without brackets. */
interface Authority {
  hostname: string;
  port: string | undefined;
}

// RFC 3986 §3.2.2 reg-name is wider (sub-delims, pct-encoded), but no name that DNS can
// resolve needs more than these, and a narrow set leaves nothing for the URL parser to decode.
const NAME = /^[a-z0-9._-]+$/;
const PORT = /^\d{1,5}$/;

/**
 * Canonical form of a host (what a browser would have sent): IPv4 shorthand (`127.1`,
 * `0x7f.0.0.1`) becomes dotted-quad, IPv6 is compressed, and a trailing dot goes.
 */
function canonical(host: string): string | undefined {
  let parsed: string;
  try {
    parsed = new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
  if (parsed.startsWith('[')) return parsed.slice(1, -1);
  return parsed.endsWith('.') ? parsed.slice(0, -1) : parsed;
}

/** `host[:port]` per RFC 9110 §7.2 (`uri-host [ ":" port ]`), or `undefined` for anything else. */
function authorityOf(value: string): Authority | undefined {
  if (value.length === 0 || value.length > 262) return undefined;
  const lower = value.toLowerCase();
  let host: string;
  let rest: string;
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    if (close === -1) return undefined;
    const inner = lower.slice(1, close);
    // An IPv6 literal (RFC 3986 §3.2.2); no zone ids, no IPvFuture.
    if (!/^[0-9a-f:.]+$/.test(inner) || !inner.includes(':')) return undefined;
    host = `[${inner}]`;
    rest = lower.slice(close + 1);
  } else {
    const colon = lower.indexOf(':');
    host = colon === -1 ? lower : lower.slice(0, colon);
    rest = colon === -1 ? '' : lower.slice(colon);
    if (!NAME.test(host) || host.length > 254) return undefined;
  }
  let port: string | undefined;
  if (rest !== '') {
    if (rest[0] !== ':' || !PORT.test(rest.slice(1)) || Number(rest.slice(1)) > 65535) return undefined;
    port = String(Number(rest.slice(1)));
  }
  const hostname = canonical(host);
  if (hostname === undefined || hostname === '') return undefined;
  return { hostname, port };
}

/**
 * The hostname of a `Host` header value: port stripped, lowercased, IPv6 without its brackets
 * (`[::1]:8080` -> `::1`), IPv4 shorthand made dotted-quad, a trailing dot dropped. `undefined`
 * for anything that is not a host (spaces, userinfo, paths, an unbracketed IPv6, a bad port).
 *
 * @example
 * ```ts
 * hostnameOf('LocalHost:8080'); // 'localhost'
 * hostnameOf('[::1]:8080'); // '::1'
 * hostnameOf('evil.example/x'); // undefined
 * ```
 */
export function hostnameOf(hostHeader: string): string | undefined {
  return authorityOf(hostHeader)?.hostname;
}

/** 127.0.0.0/8 as a dotted quad (what {@link hostnameOf} gives). */
function isLoopbackIPv4(name: string): boolean {
  const parts = name.split('.');
  return (
    parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)
  );
}

/**
 * Whether a hostname names this machine's loopback: `localhost` and any `*.localhost` (RFC 6761
 * §6.3: they resolve to loopback, never to the network), 127.0.0.0/8, `::1`, and 127.0.0.0/8
 * mapped into IPv6. Takes a hostname as {@link hostnameOf} returns it (brackets, case and a
 * trailing dot are tolerated too); a port is not expected.
 */
export function isLoopbackHostname(name: string): boolean {
  let host = name.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isLoopbackIPv4(host)) return true;
  if (!host.includes(':')) return false;
  const v6 = canonical(`[${host}]`);
  if (v6 === undefined) return false;
  if (v6 === '::1') return true;
  // ::ffff:127.x.y.z, which the URL parser writes as ::ffff:7fxx:xxxx.
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(v6);
}

type HostMatcher = (hostname: string) => boolean;

// Lists are compiled once per array (the hub checks every request against the same one).
const compiled = new WeakMap<readonly string[], HostMatcher>();

function hostMatcher(allowed: readonly string[]): HostMatcher {
  let matcher = compiled.get(allowed);
  if (matcher !== undefined) return matcher;
  if (allowed.includes('*')) {
    matcher = () => true;
  } else {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const entry of allowed) {
      const domain = entry.startsWith('.');
      const name = hostnameOf(domain ? entry.slice(1) : entry);
      // An entry that is not a hostname matches nothing, rather than something unintended.
      if (name === undefined) continue;
      exact.add(name);
      if (domain) suffixes.push(`.${name}`);
    }
    matcher = (hostname) => exact.has(hostname) || suffixes.some((suffix) => hostname.endsWith(suffix));
  }
  compiled.set(allowed, matcher);
  return matcher;
}

/**
 * Whether a request's `Host` header names this server, by the list it is known by. Entries are
 * hostnames, compared without case and without port (`hub.example.com`, `127.0.0.1`, `::1` or
 * `[::1]`); a leading dot allows a domain and every name under it (`.example.com`); `*` allows
 * any host, a missing one included. A missing or malformed `Host` is refused otherwise.
 *
 * The list is read once per array: build it once, do not mutate it afterwards.
 *
 * @example
 * ```ts
 * hostAllowed('Hub.Example.com:443', ['hub.example.com']); // true
 * hostAllowed('a.example.com', ['.example.com']); // true
 * hostAllowed('evil.example', ['localhost', '127.0.0.1']); // false: a DNS-rebinding attempt
 * ```
 */
export function hostAllowed(hostHeader: string | null, allowed: readonly string[]): boolean {
  const matcher = hostMatcher(allowed);
  if (hostHeader === null) return allowed.includes('*');
  const hostname = hostnameOf(hostHeader);
  return hostname !== undefined && matcher(hostname);
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `scheme://host[:port]` of an `Origin` header, lowercased, default port made explicit. */
function originParts(origin: string): { scheme: string; authority: Authority } | undefined {
  const match = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#@]+)$/i.exec(origin);
  if (match === null) return undefined;
  const scheme = match[1]!.toLowerCase();
  const authority = authorityOf(match[2]!);
  if (authority === undefined) return undefined;
  return {
    scheme,
    authority: { hostname: authority.hostname, port: authority.port ?? DEFAULT_PORTS[scheme] },
  };
}

function serializedOrigin(origin: string): string | undefined {
  const parts = originParts(origin.endsWith('/') ? origin.slice(0, -1) : origin);
  if (parts === undefined) return undefined;
  const { hostname, port } = parts.authority;
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  return `${parts.scheme}//${host}${port !== undefined && port !== DEFAULT_PORTS[parts.scheme] ? `:${port}` : ''}`;
}

const compiledOrigins = new WeakMap<readonly string[], Set<string>>();

/**
 * Whether a request's `Origin` may act with the user's cookies (a publish, a credentialed
 * stream): the page is on this server (same hostname and port as `Host`; the scheme is not
 * compared, since a server behind a TLS proxy cannot see it), or the origin is listed
 * (`https://app.example.com`, compared as browsers serialize origins). `*` is not a wildcard
 * here: credentials are only ever shared with origins named one by one.
 *
 * `origin` is the header's value, `null` when the request has none: browsers send `Origin` on
 * every cross-origin request and on every POST, so a request without one is not a browser's
 * cross-origin request, and is allowed. The opaque origin `'null'` (sandboxed frames, `file:`,
 * some redirects) is never allowed: it cannot be told apart from an attacker's page.
 *
 * @example
 * ```ts
 * originAllowed('http://localhost:8080', 'localhost:8080', []); // true: same origin
 * originAllowed('https://app.example.com', 'hub.example.com', ['https://app.example.com']); // true
 * originAllowed('https://evil.example', 'hub.example.com', ['https://app.example.com']); // false
 * ```
 */
export function originAllowed(
  origin: string | null,
  hostHeader: string | null,
  allowedOrigins: readonly string[],
): boolean {
  if (origin === null) return true;
  if (origin === 'null') return false;
  const parts = originParts(origin);
  if (parts === undefined) return false;
  if (hostHeader !== null) {
    const host = authorityOf(hostHeader);
    if (
      host !== undefined &&
      host.hostname === parts.authority.hostname &&
      (host.port ?? DEFAULT_PORTS[parts.scheme]) === parts.authority.port
    ) {
      return true;
    }
  }
  let listed = compiledOrigins.get(allowedOrigins);
  if (listed === undefined) {
    listed = new Set();
    for (const entry of allowedOrigins) {
      const serialized = serializedOrigin(entry);
      if (serialized !== undefined) listed.add(serialized);
    }
    compiledOrigins.set(allowedOrigins, listed);
  }
  const serialized = serializedOrigin(origin);
  return serialized !== undefined && listed.has(serialized);
}
