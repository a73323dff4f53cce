/**
 * The typed error of the provider stream readers. One class with a `type`, since an app reacts
 * to all of them the same few ways (show, retry, give up), and a literal `name`, so the guard
 * works across realms like the other layers' `is...` guards.
 */
import { hasName } from '../protocol/errors.js';

/** Which stream format a reader was reading. */
export type AIProvider = 'openai-chat' | 'openai-responses' | 'anthropic';

/**
 * What went wrong:
 * - `'provider'`: the provider reported an error in the stream (Anthropic's `event: error`,
 *   the Responses API's `error` or `response.failed`, a Chat Completions chunk holding an
 *   `error`); `code` holds the provider's own error type or code.
 * - `'http'`: the response status was not 2xx; `status`, `body`, and `code` when the body is the
 *   provider's JSON error.
 * - `'content-type'`: a 2xx response that is not `text/event-stream` (`status`, `body`).
 * - `'incomplete'`: the stream ended, or broke off, before the format's end marker (`[DONE]`,
 *   `response.completed`, `message_stop`). A cut stream never ends as if it were whole.
 * - `'invalid-json'`: an event's data is not the JSON object the format documents; `data` holds
 *   the start of it.
 * - `'max-buffer-size-exceeded'`: a line or an event was longer than `maxBufferSize`.
 */
export type ProviderStreamErrorType =
  | 'provider'
  | 'http'
  | 'content-type'
  | 'incomplete'
  | 'invalid-json'
  | 'max-buffer-size-exceeded';

/** The fields of a {@link ProviderStreamError} besides `provider`, `type` and `message`. */
export interface ProviderStreamErrorDetails {
  /** The provider's error type or code, e.g. `'overloaded_error'`, `'server_error'`. */
  code?: string;
  /** HTTP status, for `'http'` and `'content-type'`. */
  status?: number;
  /** The start of the response body, at most 1024 characters, for `'http'` and `'content-type'`. */
  body?: string;
  /** The start of the offending event data, at most 200 characters, for `'invalid-json'`. */
  data?: string;
  /** The underlying error: the JSON `SyntaxError`, the body's read error, the `ParseError`. */
  cause?: unknown;
}

/**
 * Why a provider stream reader stopped before the stream's end marker. Tell the cases apart
 * with `type` (see {@link ProviderStreamErrorType}), never with the message text.
 */
export class ProviderStreamError extends Error {
  override name = 'ProviderStreamError' as const;
  // `declare`: assigned in the constructor, not emitted as class fields as well.
  declare readonly provider: AIProvider;
  declare readonly type: ProviderStreamErrorType;
  declare readonly code?: string;
  declare readonly status?: number;
  declare readonly body?: string;
  declare readonly data?: string;
  constructor(
    provider: AIProvider,
    type: ProviderStreamErrorType,
    message: string,
    details: ProviderStreamErrorDetails = {},
  ) {
    const { cause, ...fields } = details;
    super(message, cause === undefined ? undefined : { cause });
    Object.assign(this, { provider, type }, fields);
  }
}

/** True for a {@link ProviderStreamError}, from any realm. */
export function isProviderStreamError(value: unknown): value is ProviderStreamError {
  return hasName(value, ['ProviderStreamError']);
}
