/**
 * Anthropic Messages streaming (`POST /v1/messages` with `stream: true`): named events whose
 * data is a JSON object with the same `type`. A stream is `message_start`, then for each
 * content block a `content_block_start`, its `content_block_delta`s and a `content_block_stop`,
 * then `message_delta`s and a final `message_stop`. `ping` events may come at any point, and an
 * `error` event (`{ type: 'error', error: { type: 'overloaded_error', message } }`) may end the
 * stream early. Anthropic asks integrations to ignore event types they do not know.
 */
import type { ServerSentEvent } from '../protocol/types.js';
import {
  type Format,
  type ProviderStream,
  type ProviderStreamSource,
  parseData,
  providerError,
  providerStream,
  type ReadProviderOptions,
} from './read.js';

/** Why the model stopped. */
export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal';

/** Token counts; in `message_delta` they are cumulative for the message. */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** The message as `message_start` opens it: `content` empty, `stop_reason` null. */
export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** A content block as `content_block_start` opens it (text empty, tool input `{}`). */
export type AnthropicContentBlock =
  | { type: 'text'; text: string; citations?: unknown[] | null }
  | { type: 'tool_use' | 'server_tool_use'; id: string; name: string; input: unknown }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string };

/**
 * What a `content_block_delta` adds to its block: text, a piece of a tool's input as JSON text
 * (join the pieces, parse at `content_block_stop`), thinking, or a thinking block's signature.
 */
export type AnthropicDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'input_json_delta'; partial_json: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'citations_delta'; citation: unknown };

/** The events {@link readAnthropic} yields (`ping` and unknown types are skipped). */
export type AnthropicEvent =
  | { type: 'message_start'; message: AnthropicMessage }
  | { type: 'content_block_start'; index: number; content_block: AnthropicContentBlock }
  | { type: 'content_block_delta'; index: number; delta: AnthropicDelta }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: { stop_reason: AnthropicStopReason | null; stop_sequence: string | null };
      usage: AnthropicUsage;
    }
  | { type: 'message_stop' };

const YIELDED = new Set<string>([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
] satisfies AnthropicEvent['type'][]);

const format: Format<AnthropicEvent> = {
  provider: 'anthropic',
  end: 'message_stop',
  read(event: ServerSentEvent) {
    const data = parseData('anthropic', event);
    const { type } = data;
    if (type === 'error') throw providerError('anthropic', data.error, 'error event');
    if (typeof type !== 'string' || !YIELDED.has(type)) return undefined;
    return { value: data as unknown as AnthropicEvent, done: type === 'message_stop' };
  },
  // `?.`: the JSON is the provider's, read as documented but not trusted to be.
  text: (event) =>
    event.type === 'content_block_delta' && event.delta?.type === 'text_delta' ? event.delta.text : undefined,
};

/**
 * Reads an Anthropic Messages stream: yields its events (see {@link AnthropicEvent}), ends at
 * `message_stop`, and throws a `ProviderStreamError` for an `error` event (`code` is the
 * error's type, e.g. `'overloaded_error'`), a stream cut before `message_stop`, a non-2xx or
 * non-event-stream response, or data that is not JSON.
 *
 * @example
 * ```ts
 * import { readAnthropic } from 'ssekit/ai';
 *
 * const response = await fetch('https://api.anthropic.com/v1/messages', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' },
 *   body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
 * });
 * for await (const text of readAnthropic(response).text()) console.log(text);
 * ```
 */
export function readAnthropic(
  source: ProviderStreamSource,
  options?: ReadProviderOptions,
): ProviderStream<AnthropicEvent> {
  return providerStream(source, format, options);
}
