/**
 * Each provider's own events, read from streams written from its documented format
 * (test/fixtures/ai): what is yielded, what is skipped, what ends a stream, what fails it.
 */
import { describe, expect, it } from 'vitest';
import {
  type AnthropicEvent,
  isProviderStreamError,
  type OpenAIChatChunk,
  type OpenAIResponsesEvent,
  type ProviderStreamError,
  readAnthropic,
  readOpenAIChat,
  readOpenAIResponses,
} from '../../src/ai/index.js';
import { chunked, drain, eventStreamResponse, fixture } from './helpers.js';

function providerError(error: unknown): ProviderStreamError {
  expect(isProviderStreamError(error), String(error)).toBe(true);
  return error as ProviderStreamError;
}

describe('readOpenAIChat', () => {
  it('yields every chat.completion.chunk, the usage chunk included, and ends at [DONE]', async () => {
    const { items, error } = await drain(readOpenAIChat(eventStreamResponse(fixture('openai-chat'))));
    expect(error).toBeUndefined();
    expect(items).toHaveLength(7);
    const chunks: OpenAIChatChunk[] = items;
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks[5]?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks[6]?.choices).toEqual([]);
    expect(chunks[6]?.usage?.total_tokens).toBe(21);
  });

  it('ends cleanly at [DONE] followed by nothing, and fails without it', async () => {
    const done =
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\ndata: [DONE]\n\n';
    const read = await drain(readOpenAIChat(chunked(done)));
    expect([read.items.map((chunk) => chunk.id), read.error]).toEqual([['c'], undefined]);
    expect((await drain(readOpenAIChat(chunked('data: [DONE]\n\n')))).items).toEqual([]);
    const cut = done.replace('data: [DONE]\n\n', '');
    expect(providerError((await drain(readOpenAIChat(chunked(cut)))).error).type).toBe('incomplete');
  });

  it('streams tool calls as typed deltas, and no text', async () => {
    const stream = readOpenAIChat(eventStreamResponse(fixture('openai-chat-tools')));
    let args = '';
    let name: string | undefined;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name ??= call.function?.name;
        args += call.function?.arguments ?? '';
      }
    }
    expect([name, JSON.parse(args)]).toEqual(['get_weather', { city: 'Zürich' }]);
    expect(
      (await drain(readOpenAIChat(eventStreamResponse(fixture('openai-chat-tools'))).text())).items,
    ).toEqual([]);
  });

  it("gives the first choice's text only when the request asked for several", async () => {
    const chunk = (index: number, content: string) =>
      `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":${index},"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
    const stream = `${chunk(0, 'a')}${chunk(1, 'X')}${chunk(0, 'b')}${chunk(1, 'Y')}data: [DONE]\n\n`;
    expect((await drain(readOpenAIChat(chunked(stream)).text())).items).toEqual(['a', 'b']);
    expect((await drain(readOpenAIChat(chunked(stream)))).items).toHaveLength(4);
  });

  it('passes on text only: content that is not a string is yielded in its chunk, never as text', async () => {
    const chunk = (content: string) =>
      `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${content}},"finish_reason":null}]}\n\n`;
    const stream = `${chunk('"a"')}${chunk('42')}${chunk('{"text":"x"}')}${chunk('["y"]')}${chunk('"b"')}data: [DONE]\n\n`;
    expect((await drain(readOpenAIChat(chunked(stream)).text())).items).toEqual(['a', 'b']);
    expect((await drain(readOpenAIChat(chunked(stream)))).items).toHaveLength(5);
  });

  it('takes the error type as code when the error has no code, and a finer code when it has one', async () => {
    const error = (fields: string) => `data: {"error":{${fields}}}\n\n`;
    const typed = providerError(
      (await drain(readOpenAIChat(chunked(error('"message":"m","type":"server_error","code":null'))))).error,
    );
    expect([typed.type, typed.provider, typed.code, typed.message]).toEqual([
      'provider',
      'openai-chat',
      'server_error',
      'm',
    ]);
    const coded = providerError(
      (
        await drain(
          readOpenAIChat(chunked(error('"message":"m","type":"requests","code":"rate_limit_exceeded"'))),
        )
      ).error,
    );
    expect(coded.code).toBe('rate_limit_exceeded');
    const bare = providerError((await drain(readOpenAIChat(chunked(error(''))))).error);
    expect([bare.type, bare.code]).toEqual(['provider', undefined]);
  });
});

describe('readOpenAIResponses', () => {
  it('yields the documented events in order, skips the others, and ends at response.completed', async () => {
    const { items, error } = await drain(
      readOpenAIResponses(eventStreamResponse(fixture('openai-responses'))),
    );
    expect(error).toBeUndefined();
    const events: OpenAIResponsesEvent[] = items;
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      // response.output_text.annotation.added: skipped
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((event) => event.sequence_number)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    const last = events.at(-1);
    expect(last?.type === 'response.completed' && last.response.usage?.output_tokens).toBe(9);
    const done = events.find((event) => event.type === 'response.output_text.done');
    expect(done?.type === 'response.output_text.done' && done.text).toBe('Bonjour à tous 😀, 世界 €5.');
  });

  it('ends at response.incomplete too: a finished response, its reason in incomplete_details', async () => {
    const { items, error } = await drain(
      readOpenAIResponses(eventStreamResponse(fixture('openai-responses-incomplete'))),
    );
    expect(error).toBeUndefined();
    const last = items.at(-1);
    expect(last?.type).toBe('response.incomplete');
    expect(last && 'response' in last && last.response.incomplete_details).toEqual({
      reason: 'max_output_tokens',
    });
  });

  it('fails with the response error of response.failed, and with the fields of an error event', async () => {
    const failed = providerError(
      (await drain(readOpenAIResponses(eventStreamResponse(fixture('openai-responses-failed'))))).error,
    );
    expect([failed.provider, failed.type, failed.code]).toEqual([
      'openai-responses',
      'provider',
      'server_error',
    ]);
    const { items, error } = await drain(
      readOpenAIResponses(eventStreamResponse(fixture('openai-responses-error'))),
    );
    expect(items.map((event) => event.type)).toEqual(['response.created']);
    const e = providerError(error);
    expect([e.type, e.code, e.message]).toEqual([
      'provider',
      'rate_limit_exceeded',
      'Rate limit reached for requests.',
    ]);
    // response.failed without an error object still fails, with a message of its own.
    const bare =
      'event: response.failed\ndata: {"type":"response.failed","sequence_number":0,"response":{}}\n\n';
    expect(providerError((await drain(readOpenAIResponses(chunked(bare)))).error).message).toBe(
      'response.failed',
    );
  });

  it('ignores a [DONE] and events of unknown types, and still needs its end', async () => {
    const unknown =
      'event: response.audio.delta\ndata: {"type":"response.audio.delta","sequence_number":0,"delta":"AAA="}\n\ndata: [DONE]\n\n';
    expect(providerError((await drain(readOpenAIResponses(chunked(unknown)))).error).type).toBe('incomplete');
    const untyped = 'data: {"sequence_number":0}\n\n';
    const read = await drain(readOpenAIResponses(chunked(untyped)));
    expect([read.items, providerError(read.error).type]).toEqual([[], 'incomplete']);
  });

  it('yields response.queued, refusal and reasoning summary deltas, and keeps them out of the text', async () => {
    const event = (type: string, fields: string) => `event: ${type}\ndata: {"type":"${type}",${fields}}\n\n`;
    const response = (status: string) =>
      `"response":{"id":"r","object":"response","status":"${status}","output":[]}`;
    const stream = [
      event('response.queued', `"sequence_number":0,${response('queued')}`),
      event(
        'response.reasoning_summary_text.delta',
        '"sequence_number":1,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Thinking"',
      ),
      event(
        'response.refusal.delta',
        '"sequence_number":2,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"I can\'t"',
      ),
      event(
        'response.output_text.delta',
        '"sequence_number":3,"item_id":"msg_1","output_index":1,"content_index":1,"delta":"Hello"',
      ),
      event('response.completed', `"sequence_number":4,${response('completed')}`),
    ].join('');
    const { items, error } = await drain(readOpenAIResponses(chunked(stream)));
    expect(error).toBeUndefined();
    expect(items.map((e) => e.type)).toEqual([
      'response.queued',
      'response.reasoning_summary_text.delta',
      'response.refusal.delta',
      'response.output_text.delta',
      'response.completed',
    ]);
    expect((await drain(readOpenAIResponses(chunked(stream)).text())).items).toEqual(['Hello']);
  });

  it('streams function call arguments as typed deltas', async () => {
    const event = (type: string, fields: string) => `event: ${type}\ndata: {"type":"${type}",${fields}}\n\n`;
    const stream = [
      event(
        'response.output_item.added',
        '"sequence_number":0,"output_index":0,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":""}',
      ),
      event(
        'response.function_call_arguments.delta',
        '"sequence_number":1,"item_id":"fc_1","output_index":0,"delta":"{\\"city\\":"',
      ),
      event(
        'response.function_call_arguments.delta',
        '"sequence_number":2,"item_id":"fc_1","output_index":0,"delta":"\\"Zürich\\"}"',
      ),
      event(
        'response.function_call_arguments.done',
        '"sequence_number":3,"item_id":"fc_1","output_index":0,"arguments":"{\\"city\\":\\"Zürich\\"}"',
      ),
      event(
        'response.completed',
        '"sequence_number":4,"response":{"id":"r","object":"response","status":"completed","output":[]}',
      ),
    ].join('');
    let args = '';
    let whole = '';
    for await (const e of readOpenAIResponses(chunked(stream))) {
      if (e.type === 'response.function_call_arguments.delta') args += e.delta;
      if (e.type === 'response.function_call_arguments.done') whole = e.arguments;
    }
    expect(JSON.parse(args)).toEqual({ city: 'Zürich' });
    expect(whole).toBe(args);
    expect((await drain(readOpenAIResponses(chunked(stream)).text())).items).toEqual([]);
  });
});

describe('readAnthropic', () => {
  it('yields message, block and delta events in order, skips pings, and ends at message_stop', async () => {
    const { items, error } = await drain(readAnthropic(eventStreamResponse(fixture('anthropic'))));
    expect(error).toBeUndefined();
    const events: AnthropicEvent[] = items;
    const kinds = events.map((event) =>
      event.type === 'content_block_delta' ? event.delta.type : event.type,
    );
    expect(kinds).toEqual([
      'message_start',
      'content_block_start',
      'thinking_delta',
      'signature_delta',
      'content_block_stop',
      'content_block_start',
      'text_delta',
      'text_delta',
      'text_delta',
      'content_block_stop',
      'content_block_start',
      'input_json_delta',
      'input_json_delta',
      'input_json_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0];
    expect(start?.type === 'message_start' && start.message.usage.input_tokens).toBe(472);
    const delta = events.find((event) => event.type === 'message_delta');
    expect(delta?.type === 'message_delta' && [delta.delta.stop_reason, delta.usage.output_tokens]).toEqual([
      'tool_use',
      89,
    ]);
  });

  it("joins a tool's input from its input_json_delta pieces, and keeps thinking out of the text", async () => {
    let json = '';
    let thinking = '';
    for await (const event of readAnthropic(eventStreamResponse(fixture('anthropic')))) {
      if (event.type !== 'content_block_delta') continue;
      if (event.delta.type === 'input_json_delta') json += event.delta.partial_json;
      if (event.delta.type === 'thinking_delta') thinking += event.delta.thinking;
    }
    expect(JSON.parse(json)).toEqual({ city: 'Zürich' });
    expect(thinking).toBe('They greet everyone; answer in kind.');
    const text = (await drain(readAnthropic(eventStreamResponse(fixture('anthropic'))).text())).items;
    expect(text.join('')).toBe('Bonjour à tous 😀, 世界 €5.');
  });

  it('ignores pings and event types it does not know, as Anthropic asks', async () => {
    const stream =
      'event: ping\ndata: {"type": "ping"}\n\nevent: future_event\ndata: {"type":"future_event","x":1}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    expect(await drain(readAnthropic(chunked(stream)))).toEqual({ items: [{ type: 'message_stop' }] });
    const pingsOnly = 'event: ping\ndata: {"type": "ping"}\n\n'.repeat(3);
    expect(providerError((await drain(readAnthropic(chunked(pingsOnly)))).error).type).toBe('incomplete');
  });

  it('fails with the error type of an error event as code', async () => {
    const stream =
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal server error"}}\n\n';
    const e = providerError((await drain(readAnthropic(chunked(stream)))).error);
    expect([e.provider, e.type, e.code, e.message]).toEqual([
      'anthropic',
      'provider',
      'api_error',
      'Internal server error',
    ]);
  });
});
