/**
 * Reading the id a reconnecting client resumes from. EventSource sends it as the
 * `Last-Event-ID` header (WHATWG HTML §9.2.4, "reestablish the connection"): UTF-8 bytes of the
 * last `id` field it saw. Clients that cannot set headers put it in the query string instead.
 * Both are attacker-controlled, so the value is length-limited and control characters are
 * refused before it reaches a history lookup or a log line.
 */
import { LastEventIdError, type LastEventIdErrorType } from './errors.js';
import { checkNumber } from './options.js';

/** Options of {@link readLastEventId}. */
export interface ReadLastEventIdOptions {
  /** Longest accepted id, in UTF-16 code units. Default 256. */
  maxLength?: number;
  /** Query parameter read when the header is absent; `false` to ignore the query. Default `'lastEventId'`. */
  queryParam?: string | false;
  /**
   * Policy for an invalid id: `'ignore'` (default) reads it as `undefined`, `'throw'` throws a
   * {@link LastEventIdError}.
   */
  invalidId?: 'ignore' | 'throw';
}

/** The part of a `Request` the reader needs. */
export interface RequestLike {
  readonly url: string;
  readonly headers: { get(name: string): string | null };
}

const DEFAULT_MAX_LENGTH = 256;
const NON_ASCII = /[^\x00-\x7f]/;
const NON_BYTE = /[^\x00-\xff]/;
const CONTROL = /\p{Cc}/u;
/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form (internal, shared). */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The request's last event id, or `undefined` when there is none (or, by default, when it is
 * invalid: too long, control characters, malformed UTF-8). The `Last-Event-ID` header wins over
 * the query parameter; an empty value counts as none.
 *
 * @example
 * ```ts
 * import { createEventStream, readLastEventId } from 'ssekit/server';
 *
 * const log = [{ id: '1', data: 'a' }, { id: '2', data: 'b' }, { id: '3', data: 'c' }];
 *
 * export function GET(request: Request) {
 *   const since = readLastEventId(request); // '2', or undefined
 *   const stream = createEventStream({ signal: request.signal });
 *   for (const event of log.slice(log.findIndex((e) => e.id === since) + 1)) void stream.send(event);
 *   return stream.response;
 * }
 * ```
 */
export function readLastEventId(
  request: RequestLike,
  options: ReadLastEventIdOptions = {},
): string | undefined {
  const maxLength = checkNumber('maxLength', options.maxLength ?? DEFAULT_MAX_LENGTH);
  const queryParam = options.queryParam ?? 'lastEventId';
  const strict = options.invalidId === 'throw';

  const fail = (type: LastEventIdErrorType, message: string, cause?: unknown): undefined => {
    if (strict) throw new LastEventIdError(type, message, cause === undefined ? undefined : { cause });
    return undefined;
  };

  let value: string | null | undefined = request.headers.get('last-event-id');
  if (value !== null && value !== '') {
    // A UTF-8 character is at most 4 bytes: anything longer cannot decode to maxLength.
    if (value.length > maxLength * 4) return fail('too-long', 'Last-Event-ID is too long');
    // Fetch exposes header values as byte strings (one char per byte); EventSource sent UTF-8.
    if (NON_ASCII.test(value) && !NON_BYTE.test(value)) {
      const bytes = new Uint8Array(value.length);
      for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
      try {
        value = utf8.decode(bytes);
      } catch (error) {
        return fail('invalid-utf8', 'Last-Event-ID is not valid UTF-8', error);
      }
    }
  } else {
    value = undefined;
    if (queryParam !== false) {
      const query = queryOf(request.url);
      const fromQuery = query === undefined ? null : query.get(queryParam);
      if (fromQuery !== null && fromQuery !== '') value = fromQuery;
    }
    if (value === undefined) return undefined;
  }

  if (value.length > maxLength) return fail('too-long', 'the last event id is too long');
  if (CONTROL.test(value)) return fail('control-character', 'the last event id contains a control character');
  if (LONE_SURROGATE.test(value)) return fail('invalid-utf8', 'the last event id contains a lone surrogate');
  return value;
}

function queryOf(url: string): URLSearchParams | undefined {
  const start = url.indexOf('?');
  if (start === -1) return undefined;
  const end = url.indexOf('#', start);
  return new URLSearchParams(end === -1 ? url.slice(start + 1) : url.slice(start + 1, end));
}
