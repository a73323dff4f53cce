/**
 * Reading what a request asks of a reply (its id, its resume point, its idempotency key), and
 * the plain answers that refuse it.
 */
import type { AuthorizeResult } from '../hub/auth.js';
import { LastEventIdError } from '../server/errors.js';
import { readLastEventId } from '../server/last-event-id.js';
import { REPLY_ID } from './log.js';

/** What a request wants to do with a reply. */
export type ReplyAction = 'start' | 'read' | 'stop';

/** What the replies hand the {@link RepliesAuthorize} hook. */
export interface RepliesAuthorizeContext {
  readonly request: Request;
  readonly action: ReplyAction;
  /**
   * The reply: `undefined` for `start` (it has no id yet). A POST that joins a running reply by
   * its `Idempotency-Key` is also asked for `read` on that reply.
   */
  readonly id: string | undefined;
}

/**
 * Decides who may start, read and stop replies. `true` allows; `{ expiresAt }` allows until then
 * (a stream is then ended with a retry hint, so the client comes back with fresh credentials);
 * `false` or `'forbidden'` answers 403; `'unauthenticated'` answers 401. The same verdicts as
 * the hub's `authorize` (so `jwtAuthorizer`'s tokens can be checked in it).
 *
 * @example A reply belongs to the user who started it:
 * ```ts
 * const owners = new Map<string, string>(); // reply id -> user (use your database)
 * const replies = createReplies({
 *   authorize: async ({ request, action, id }) => {
 *     const user = await userOf(request);
 *     if (user === undefined) return 'unauthenticated';
 *     return action === 'start' || owners.get(id!) === user;
 *   },
 * });
 * ```
 */
export type RepliesAuthorize = (
  context: RepliesAuthorizeContext,
) => AuthorizeResult | Promise<AuthorizeResult>;

const TEXT = 'text/plain; charset=utf-8';
const NOSNIFF = 'nosniff';

/** A plain-text answer (never a stack trace). */
export function plain(status: number, message: string, headers?: Record<string, string>): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { 'content-type': TEXT, 'x-content-type-options': NOSNIFF, ...headers },
  });
}

/** The refusal an authorization verdict means, or `undefined` when it allows. */
export function refusalOf(
  result: AuthorizeResult,
): { status: 401 | 403; headers?: Record<string, string> } | undefined {
  if (result === true || (typeof result === 'object' && result !== null)) return undefined;
  if (result === 'unauthenticated') return { status: 401, headers: { 'www-authenticate': 'Bearer' } };
  return { status: 403 };
}

/** The reply id a URL names: its last path segment, when it has the shape of one. */
export function replyIdOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const id = path.slice(path.lastIndexOf('/') + 1);
  return REPLY_ID.test(id) ? id : undefined;
}

/** The resume point: `undefined` (none), an id, or `null` for one that cannot be read. */
export function resumePointOf(request: Request, maxLength: number): string | undefined | null {
  try {
    return readLastEventId(request, { maxLength, invalidId: 'throw' });
  } catch (error) {
    if (error instanceof LastEventIdError) return null;
    throw error;
  }
}

// sf-string characters (RFC 8941 §3.3.3) minus the two that need escapes, which keys never need.
const KEY = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * The `Idempotency-Key` of a request (draft-ietf-httpapi-idempotency-key-header: an sf-string,
 * `"..."`; the bare form many APIs accept is taken too): `undefined` when absent, `null` when
 * malformed (empty, too long, characters outside printable ASCII).
 */
export function idempotencyKeyOf(request: Request, maxLength: number): string | undefined | null {
  const raw = request.headers.get('idempotency-key');
  if (raw === null) return undefined;
  let key = raw.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1);
  if (key.trim() === '' || key.length > maxLength || !KEY.test(key)) return null;
  return key;
}
