/**
 * Reading a request body with a bound in bytes: the POST that starts a stream (a chat prompt, a
 * publish) comes from anyone, and a body read whole before it is checked lets one request take
 * all the memory. The bound holds before anything is read (a `Content-Length` over it) and while
 * reading (a chunked or lying body): reading stops at the first byte past it.
 */

import { RequestBodyError } from './errors.js';
import { concatBytes } from './event-stream.js';
import { checkNumber } from './options.js';

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /** Most bytes accepted. Default 64 KiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The request's body as bytes, at most `maxBytes` of them. Throws a {@link RequestBodyError}:
 * `'too-large'` (answer 413; the rest of the body is never read, so close the connection:
 * `ssekit/node` does when the answer comes before the body's end), or `'unreadable'` (the client
 * went away mid-body).
 *
 * @example
 * ```ts
 * import { readBody, readBodyText, isRequestBodyError } from 'ssekit/server';
 *
 * export async function POST(request: Request) {
 *   let prompt: unknown;
 *   try {
 *     prompt = JSON.parse(await readBodyText(request, { maxBytes: 32 * 1024 }));
 *   } catch (error) {
 *     if (isRequestBodyError(error) && error.type === 'too-large') return new Response(null, { status: 413 });
 *     return new Response(null, { status: 400 });
 *   }
 *   // ...
 * }
 * ```
 */
export async function readBody(request: Request, options: ReadBodyOptions = {}): Promise<Uint8Array> {
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  checkNumber('maxBytes', max, { min: 0, unbounded: true });
  const tooLarge = (): RequestBodyError =>
    new RequestBodyError('too-large', `the request body is larger than ${max} bytes`);
  const length = request.headers.get('content-length');
  if (length !== null && Number(length) > max) {
    // Nothing is read; cancelling tells the runtime the rest is not wanted.
    await request.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (error) {
      throw new RequestBodyError('unreadable', 'the request body could not be read', { cause: error });
    }
    if (next.done) break;
    total += next.value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    parts.push(next.value);
  }
  return concatBytes(parts, total);
}

/**
 * {@link readBody} decoded as UTF-8. Malformed UTF-8 throws a {@link RequestBodyError} of type
 * `'invalid-utf8'` rather than turning into U+FFFD.
 */
export async function readBodyText(request: Request, options: ReadBodyOptions = {}): Promise<string> {
  const bytes = await readBody(request, options);
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new RequestBodyError('invalid-utf8', 'the request body is not valid UTF-8', { cause: error });
  }
}
