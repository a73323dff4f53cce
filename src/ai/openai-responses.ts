/**
 * OpenAI Responses API streaming (`POST /v1/responses` with `stream: true`): named events whose
 * data is a JSON object with the same `type` and a `sequence_number`. There is no `[DONE]`: the
 * stream ends with `response.completed` or `response.incomplete` (both ends), or with
 * `response.failed` or an `error` event (errors).
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

/** The response object that the lifecycle events carry. */
export interface OpenAIResponse {
  id: string;
  object: 'response';
  created_at: number;
  model: string;
  status: 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';
  /** Every output item so far; complete in `response.completed`. */
  output: OpenAIResponseItem[];
  error: { code: string; message: string } | null;
  /** Why a `response.incomplete` stopped, e.g. `{ reason: 'max_output_tokens' }`. */
  incomplete_details: { reason?: string } | null;
  usage?: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
    input_tokens_details?: Record<string, number>;
    output_tokens_details?: Record<string, number>;
  } | null;
}

/**
 * An output item: a `message`, a `function_call`, a `reasoning` item, a built-in tool's call,
 * and more kinds over time; each has its `type` and, once added, its `id`.
 */
export interface OpenAIResponseItem {
  type: string;
  id?: string;
  status?: string;
  [field: string]: unknown;
}

/** A response's lifecycle: its object as it stands. `completed` and `incomplete` end the stream. */
export interface OpenAIResponseLifecycleEvent {
  type:
    | 'response.created'
    | 'response.queued'
    | 'response.in_progress'
    | 'response.completed'
    | 'response.incomplete';
  sequence_number: number;
  response: OpenAIResponse;
}

/** An output item began (`added`, partial) or is finished (`done`, whole). */
export interface OpenAIResponseItemEvent {
  type: 'response.output_item.added' | 'response.output_item.done';
  sequence_number: number;
  output_index: number;
  item: OpenAIResponseItem;
}

/** A content part of a message item began or is finished. */
export interface OpenAIResponseContentPartEvent {
  type: 'response.content_part.added' | 'response.content_part.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  /** `{ type: 'output_text', text, annotations }` or `{ type: 'refusal', refusal }`. */
  part: { type: string; [field: string]: unknown };
}

/**
 * The next piece of something the model writes: the answer's text (`output_text`), a refusal,
 * a function call's arguments (JSON, in pieces), or a reasoning summary.
 */
export interface OpenAIResponseDeltaEvent {
  type:
    | 'response.output_text.delta'
    | 'response.refusal.delta'
    | 'response.function_call_arguments.delta'
    | 'response.reasoning_summary_text.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  /** For text and refusals: the content part. */
  content_index?: number;
  /** For reasoning summaries: the summary part. */
  summary_index?: number;
  delta: string;
}

/** The whole text of a finished `output_text` content part. */
export interface OpenAIResponseTextDoneEvent {
  type: 'response.output_text.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  text: string;
}

/** The whole arguments (JSON text) of a finished function call. */
export interface OpenAIResponseArgumentsDoneEvent {
  type: 'response.function_call_arguments.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  arguments: string;
}

/**
 * The events {@link readOpenAIResponses} yields. The API sends more kinds (built-in tools'
 * progress, audio, annotations, ...): they are skipped, and every item they concern still
 * arrives whole in `response.output_item.done` and `response.completed`.
 */
export type OpenAIResponsesEvent =
  | OpenAIResponseLifecycleEvent
  | OpenAIResponseItemEvent
  | OpenAIResponseContentPartEvent
  | OpenAIResponseDeltaEvent
  | OpenAIResponseTextDoneEvent
  | OpenAIResponseArgumentsDoneEvent;

const YIELDED = new Set<string>([
  'response.created',
  'response.queued',
  'response.in_progress',
  'response.completed',
  'response.incomplete',
  'response.output_item.added',
  'response.output_item.done',
  'response.content_part.added',
  'response.content_part.done',
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.reasoning_summary_text.delta',
  'response.output_text.done',
  'response.function_call_arguments.done',
] satisfies OpenAIResponsesEvent['type'][]);

const provider = 'openai-responses';

const format: Format<OpenAIResponsesEvent> = {
  provider,
  end: 'response.completed',
  read(event: ServerSentEvent) {
    // Not in this format, but some OpenAI-compatible servers send it, as in Chat Completions.
    if (event.data === '[DONE]') return undefined;
    const data = parseData(provider, event);
    const { type } = data;
    // `{ type: 'error', code, message, param }`: the error fields are the event's own.
    if (type === 'error') throw providerError(provider, data, 'error event');
    if (type === 'response.failed') {
      throw providerError(provider, (data.response as OpenAIResponse | undefined)?.error, 'response.failed');
    }
    if (typeof type !== 'string' || !YIELDED.has(type)) return undefined;
    return {
      value: data as unknown as OpenAIResponsesEvent,
      done: type === 'response.completed' || type === 'response.incomplete',
    };
  },
  text: (event) => (event.type === 'response.output_text.delta' ? event.delta : undefined),
};

/**
 * Reads an OpenAI Responses API stream: yields its events (see {@link OpenAIResponsesEvent}),
 * ends at `response.completed` or `response.incomplete` (check `response.incomplete_details`),
 * and throws a `ProviderStreamError` for `response.failed`, an `error` event, a stream cut
 * before its end, a non-2xx or non-event-stream response, or data that is not JSON.
 *
 * @example
 * ```ts
 * import { readOpenAIResponses } from 'ssekit/ai';
 *
 * const response = await fetch('https://api.openai.com/v1/responses', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
 *   body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, input: 'Hi' }),
 * });
 * for await (const event of readOpenAIResponses(response)) {
 *   if (event.type === 'response.output_text.delta') console.log(event.delta);
 *   if (event.type === 'response.completed') console.log(event.response.usage);
 * }
 * ```
 */
export function readOpenAIResponses(
  source: ProviderStreamSource,
  options?: ReadProviderOptions,
): ProviderStream<OpenAIResponsesEvent> {
  return providerStream(source, format, options);
}
