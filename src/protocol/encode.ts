/**
 * Event -> wire text. The writer side of WHATWG HTML §9.2.5 ("Parsing an event stream", the
 * grammar) with the Mercure spec's warning on field injection in mind: a value must never be
 * able to end its line and start another field.
 */
import { EncodeError } from './errors.js';
import type { OutgoingEvent } from './types.js';

/**
 * An empty comment: what a stream opens with (its first bytes, so proxies and clients see the
 * response start) and what a heartbeat sends. Parsers ignore comments (WHATWG HTML §9.2.6).
 * Internal: one definition for the server, the hub and replies.
 */
export const EMPTY_COMMENT = ':\n\n';

const LINE_BREAK = /\r\n|\r|\n/;
const CR_OR_LF = /[\r\n]/;
const encoder = new TextEncoder();

function prefixLines(prefix: string, value: string): string {
  // Fast path: most values are one line.
  if (!CR_OR_LF.test(value)) return `${prefix}${value}\n`;
  let out = '';
  for (const line of value.split(LINE_BREAK)) out += `${prefix}${line}\n`;
  return out;
}

/**
 * Encodes one event as `text/event-stream` text, ending with the blank line that dispatches it
 * (a comment alone gets no blank line: it dispatches nothing).
 *
 * - `data` is split on CR, LF and CRLF into one `data:` line each, so the receiver gets back
 *   exactly the same string.
 * - CR or LF in `event` or `id`, or NUL in `id`, throws an {@link EncodeError}: such a value
 *   could forge another field, and cleaning it up silently would change the event.
 * - `retry` must be a non-negative integer.
 *
 * @example
 * ```ts
 * encodeEvent({ event: 'message', data: '{"content":"Hi"}', id: '42' });
 * // 'id: 42\nevent: message\ndata: {"content":"Hi"}\n\n'
 * ```
 */
export function encodeEvent(event: OutgoingEvent): string {
  const { comment, retry, id, event: type, data } = event;
  let out = '';
  if (comment !== undefined) {
    if (typeof comment !== 'string') throw fieldError('comment', comment);
    out += prefixLines(': ', comment);
  }
  let fields = false;
  if (retry !== undefined) {
    if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
      throw new EncodeError('invalid-retry', `retry must be a non-negative integer, got ${String(retry)}`);
    }
    out += `retry: ${retry}\n`;
    fields = true;
  }
  if (id !== undefined) {
    checkId(id);
    out += id === '' ? 'id\n' : `id: ${id}\n`;
    fields = true;
  }
  if (type !== undefined) {
    checkEventType(type);
    out += `event: ${type}\n`;
    fields = true;
  }
  if (data !== undefined) {
    checkData(data);
    out += prefixLines('data: ', data);
    fields = true;
  }
  return fields ? `${out}\n` : out;
}

/**
 * @internal {@link encodeEvent} of `{ id, data }` (no type), the shape of most events a resumable
 * stream writes (each has an id): the same text, built as one concatenation, without the field
 * object, the event's other fields looked at, or the line splitting that one-line data does not
 * need. Anything else (CR or LF in the data, an id to refuse) goes through `encodeEvent`.
 */
export function encodeIdData(id: string, data: string): string {
  if (id === '' || id.length > SHORT_ID || CR_OR_LF.test(data)) return encodeEvent({ id, data });
  checkId(id);
  return `id: ${id}\ndata: ${data}\n\n`;
}

/**
 * {@link encodeEvent} as UTF-8 bytes: encode a broadcast once and write the same bytes to every
 * subscriber.
 */
export function encodeEventBytes(event: OutgoingEvent): Uint8Array {
  return encoder.encode(encodeEvent(event));
}

/**
 * Throws the {@link EncodeError} that {@link encodeEvent} would for this `event` value: the one
 * rule for event types, shared by everything that stores events to encode later (the hub checks
 * a publish with it, so a bad event never reaches history).
 */
export function checkEventType(type: unknown): asserts type is string {
  if (typeof type !== 'string') throw fieldError('event', type);
  if (CR_OR_LF.test(type)) throw new EncodeError('invalid-event', 'event must not contain CR or LF');
}

/** Throws the {@link EncodeError} that {@link encodeEvent} would for this `id` value. */
export function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string') throw fieldError('id', id);
  if (id.length > SHORT_ID) {
    if (CR_OR_LF.test(id) || id.includes('\0')) throw invalidId();
    return;
  }
  // Most ids are short (a broker's `<ms>-<seq>`, a counter, a UUID) and every event of a
  // resumable stream has one: a loop over them costs far less than a regular expression and a
  // search, two calls into builtins.
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0) throw invalidId();
  }
}

/** Past this length an id is checked by the builtins (which scan long text faster). */
const SHORT_ID = 64;

function invalidId(): EncodeError {
  return new EncodeError('invalid-id', 'id must not contain CR, LF or NUL');
}

/** Throws the {@link EncodeError} that {@link encodeEvent} would for this `data` value. */
export function checkData(data: unknown): asserts data is string {
  if (typeof data !== 'string') throw fieldError('data', data);
}

function fieldError(field: string, value: unknown): EncodeError {
  return new EncodeError('invalid-field', `${field} must be a string, got ${typeof value}`);
}
