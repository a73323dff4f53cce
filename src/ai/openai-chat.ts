/**
 * OpenAI Chat Completions streaming (`POST /v1/chat/completions` with `stream: true`): unnamed
 * events, each a `chat.completion.chunk` object as JSON, then `data: [DONE]`. An error in the
 * middle of the stream comes as a chunk holding an `error` object instead of `choices`.
 * OpenAI-compatible servers (vLLM, Ollama, OpenRouter, ...) speak the same format.
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

/** One streamed `chat.completion.chunk`: the documented fields. */
export interface OpenAIChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  /** Unix time in seconds; the same in every chunk. */
  created: number;
  model: string;
  /** One entry per choice that changed; empty in the usage chunk at the end. */
  choices: OpenAIChatChoiceDelta[];
  system_fingerprint?: string | null;
  service_tier?: string | null;
  /** In the last chunk only, when the request set `stream_options: { include_usage: true }`. */
  usage?: OpenAIChatUsage | null;
}

/** What one choice added in a chunk. */
export interface OpenAIChatChoiceDelta {
  /** The choice (0 unless the request asked for `n` > 1). */
  index: number;
  delta: {
    role?: 'assistant' | 'developer' | 'system' | 'user' | 'tool';
    /** The next piece of the answer's text. */
    content?: string | null;
    refusal?: string | null;
    tool_calls?: OpenAIChatToolCallDelta[];
  };
  /** Set in the choice's last chunk. */
  finish_reason: 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call' | null;
  logprobs?: unknown;
}

/** A piece of a tool call: `id` and `function.name` come first, `arguments` in pieces of JSON. */
export interface OpenAIChatToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** Token counts of a whole completion. */
export interface OpenAIChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: Record<string, number>;
  completion_tokens_details?: Record<string, number>;
}

const format: Format<OpenAIChatChunk> = {
  provider: 'openai-chat',
  end: 'data: [DONE]',
  read(event: ServerSentEvent) {
    if (event.data === '[DONE]') return { done: true };
    const chunk = parseData('openai-chat', event);
    if (chunk.error) throw providerError('openai-chat', chunk.error, 'error in the stream');
    return { value: chunk as unknown as OpenAIChatChunk };
  },
  // The first choice's text: with `n` > 1, read the events and each choice's `index` instead.
  // `?.`: the JSON is the provider's, read as documented but not trusted to be.
  text: (chunk) =>
    (Array.isArray(chunk.choices) ? chunk.choices : []).find((choice) => choice?.index === 0)?.delta
      ?.content ?? undefined,
};

/**
 * Reads an OpenAI Chat Completions stream: yields each `chat.completion.chunk`, ends at
 * `data: [DONE]`, and throws a `ProviderStreamError` for an error in the stream, a stream cut
 * before `[DONE]`, a non-2xx or non-event-stream response, or data that is not JSON.
 *
 * @example
 * ```ts
 * import { readOpenAIChat } from 'ssekit/ai';
 *
 * const response = await fetch('https://api.openai.com/v1/chat/completions', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
 *   body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
 * });
 * for await (const text of readOpenAIChat(response).text()) console.log(text);
 * ```
 */
export function readOpenAIChat(
  source: ProviderStreamSource,
  options?: ReadProviderOptions,
): ProviderStream<OpenAIChatChunk> {
  return providerStream(source, format, options);
}
