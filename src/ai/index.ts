/**
 * `ssekit/ai`: typed readers for LLM providers' streams. `readOpenAIChat`,
 * `readOpenAIResponses` and `readAnthropic` take a `fetch` `Response` (or its body, or parsed
 * events) and yield the provider's typed events, or with `.text()` the answer's text pieces. A
 * stream ends at its format's end marker only: a provider's error event, a stream cut short, a
 * refused response or bad JSON is a `ProviderStreamError`. Imports only the protocol layer, so
 * it runs in browsers, workers and servers alike. Guide: docs/ai-providers.md.
 */

export type { ServerSentEvent } from '../protocol/types.js';
export {
  type AnthropicContentBlock,
  type AnthropicDelta,
  type AnthropicEvent,
  type AnthropicMessage,
  type AnthropicStopReason,
  type AnthropicUsage,
  readAnthropic,
} from './anthropic.js';
export {
  type AIProvider,
  isProviderStreamError,
  ProviderStreamError,
  type ProviderStreamErrorDetails,
  type ProviderStreamErrorType,
} from './errors.js';
export {
  type OpenAIChatChoiceDelta,
  type OpenAIChatChunk,
  type OpenAIChatToolCallDelta,
  type OpenAIChatUsage,
  readOpenAIChat,
} from './openai-chat.js';
export {
  type OpenAIResponse,
  type OpenAIResponseArgumentsDoneEvent,
  type OpenAIResponseContentPartEvent,
  type OpenAIResponseDeltaEvent,
  type OpenAIResponseItem,
  type OpenAIResponseItemEvent,
  type OpenAIResponseLifecycleEvent,
  type OpenAIResponsesEvent,
  type OpenAIResponseTextDoneEvent,
  readOpenAIResponses,
} from './openai-responses.js';
export type { ProviderStream, ProviderStreamSource, ReadProviderOptions } from './read.js';
