/**
 * The UI message stream on replies, chunk by chunk: every chunk type the AI SDK (`ai` 6) defines
 * goes through a reply and comes out of the AI SDK's own transport parser (which validates each
 * chunk against its schema) as it went in; a producer without a `start` chunk gets one; and the
 * ends that are not `done` reach the chat as the AI SDK shows them.
 */
import { DefaultChatTransport, type UIMessage, type UIMessageChunk } from 'ai';
import { describe, expect, it } from 'vitest';
import { uiMessageStreamEnd } from '../../src/ai/sdk.js';
import { deferred } from '../helpers/server.js';
import { chatInstancesPerTest, pacedModel, TestChat } from './chat-helpers.js';

const serve = chatInstancesPerTest();

/** One of every chunk type of `ai` 6's `uiMessageChunkSchema`, with its optional fields too. */
const EVERY_CHUNK: UIMessageChunk[] = [
  { type: 'start', messageId: 'm1', messageMetadata: { model: 'mock' } },
  { type: 'start-step' },
  { type: 'reasoning-start', id: 'r' },
  { type: 'reasoning-delta', id: 'r', delta: 'thinking… "quoted"\nnew line' },
  { type: 'reasoning-end', id: 'r' },
  { type: 'text-start', id: 't', providerMetadata: { mock: { a: 1 } } },
  { type: 'text-delta', id: 't', delta: 'héllo 🌍 \r\n data: [DONE]\n\n' },
  { type: 'text-end', id: 't' },
  { type: 'tool-input-start', toolCallId: 'c1', toolName: 'weather', dynamic: false, title: 'Weather' },
  { type: 'tool-input-delta', toolCallId: 'c1', inputTextDelta: '{"city":' },
  { type: 'tool-input-available', toolCallId: 'c1', toolName: 'weather', input: { city: 'Paris' } },
  { type: 'tool-approval-request', approvalId: 'a1', toolCallId: 'c1' },
  { type: 'tool-output-available', toolCallId: 'c1', output: { temperature: 21 }, preliminary: false },
  { type: 'tool-input-start', toolCallId: 'c2', toolName: 'search' },
  {
    type: 'tool-input-error',
    toolCallId: 'c2',
    toolName: 'search',
    input: 'bad',
    errorText: 'invalid input',
  },
  { type: 'tool-output-error', toolCallId: 'c2', errorText: 'failed' },
  { type: 'tool-input-available', toolCallId: 'c3', toolName: 'delete', input: {} },
  { type: 'tool-output-denied', toolCallId: 'c3' },
  { type: 'source-url', sourceId: 's1', url: 'https://example.com/', title: 'Example' },
  { type: 'source-document', sourceId: 's2', mediaType: 'application/pdf', title: 'Doc', filename: 'a.pdf' },
  { type: 'file', url: 'data:text/plain;base64,aGk=', mediaType: 'text/plain' },
  { type: 'data-weather', id: 'd1', data: { city: 'Paris', temperature: 21 } },
  { type: 'data-notice', data: 'transient', transient: true },
  { type: 'message-metadata', messageMetadata: { tokens: 42 } },
  { type: 'error', errorText: 'a recoverable error' },
  { type: 'finish-step' },
  { type: 'abort', reason: 'user' },
  { type: 'finish', finishReason: 'stop', messageMetadata: { done: true } },
];

async function chunksOf(stream: ReadableStream<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const out: UIMessageChunk[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<UIMessageChunk>) out.push(chunk);
  return out;
}

const request = {
  chatId: 'x',
  messages: [] as UIMessage[],
  trigger: 'submit-message' as const,
  messageId: undefined,
  abortSignal: undefined,
};

describe('the UI message stream on replies', () => {
  it("round-trips every chunk type through the AI SDK's transport parser (its schema), in order", async () => {
    const app = await serve();
    app.setModel({
      calls: 0,
      produce: () =>
        (async function* () {
          yield* EVERY_CHUNK;
        })(),
    } as never);
    const transport = new DefaultChatTransport({ api: app.api });
    const sent = await chunksOf(await transport.sendMessages({ ...request, chatId: 'every' }));
    expect(sent).toEqual(EVERY_CHUNK);
  });

  it('sends a start chunk first when the producer does not (a replayed resume rebuilds the message there)', async () => {
    const app = await serve();
    app.setModel({
      calls: 0,
      produce: () =>
        (async function* () {
          yield { type: 'text-start', id: 't' };
          yield { type: 'text-delta', id: 't', delta: 'hi' };
          yield { type: 'text-end', id: 't' };
        })(),
    } as never);
    const transport = new DefaultChatTransport({ api: app.api });
    const sent = await chunksOf(await transport.sendMessages({ ...request, chatId: 'nostart' }));
    expect(sent.map((c) => c.type)).toEqual(['start', 'text-start', 'text-delta', 'text-end']);
  });

  it("ends a reply whose producer failed with an error chunk: the AI SDK's chat shows it as its error", async () => {
    const app = await serve({ onError: () => {} });
    app.setModel({
      calls: 0,
      produce: () =>
        (async function* () {
          yield { type: 'start' };
          throw new Error('the model broke');
        })(),
    } as never);
    const chat = new TestChat({ id: 'fails', api: app.api });
    await chat.sendMessage({ text: 'hi' });
    expect(chat.status).toBe('error');
    // The producer's own error stays on the server (onError): the client learns the reason only.
    expect(chat.error?.message).toBe('the reply ended early (failed)');
  });

  it('fails a reply whose producer yields something that is not a chunk: it never reaches the chat', async () => {
    const errors: unknown[] = [];
    const app = await serve({ onError: (error) => errors.push(error) });
    app.setModel({
      calls: 0,
      produce: () =>
        (async function* () {
          yield { type: 'start' };
          yield 'not a chunk';
          yield { type: 'text-start', id: 't' };
        })(),
    } as never);
    const chat = new TestChat({ id: 'notchunk', api: app.api });
    await chat.sendMessage({ text: 'hi' });
    expect(chat.status).toBe('error');
    expect(chat.error?.message).toBe('the reply ended early (failed)');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
  });

  it("cancels the model's stream when the reply is stopped before the model call has returned it", async () => {
    const app = await serve();
    const called = deferred();
    const release = deferred();
    const cancelled = deferred<unknown>();
    let pulls = 0;
    app.setModel({
      calls: 0,
      produce: async () => {
        called.resolve();
        await release.promise; // the model call is still being set up
        // Pulled only when read (highWaterMark 0): a read would ask the model for a chunk.
        return new ReadableStream(
          {
            pull: (controller) => {
              pulls++;
              controller.enqueue({ type: 'text-delta', id: 't', delta: 'x' });
            },
            cancel: (reason) => cancelled.resolve(reason),
          },
          { highWaterMark: 0 },
        );
      },
    } as never);
    const started = await fetch(app.api, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'early-stop', messages: [], trigger: 'submit-message' }),
    });
    await called.promise;
    const location = started.headers.get('content-location') as string;
    expect((await fetch(`${app.url}${location}`, { method: 'DELETE' })).status).toBe(204);
    release.resolve();
    // The stream the call returns after the stop is cancelled at once, with the stop's reason,
    // and never read.
    expect(await cancelled.promise).toMatchObject({ name: 'ReplyStoppedError', reason: 'stopped' });
    expect(pulls).toBe(0);
    await started.body?.cancel();
  });

  it("cancels the model's stream when the log refuses a chunk (too large), and the chat shows the reason", async () => {
    const app = await serve({ limits: { maxEventsPerReply: 4 } });
    const model = pacedModel(['a', 'b', 'c', 'd', 'e']);
    model.step();
    app.setModel(model);
    const chat = new TestChat({ id: 'large', api: app.api });
    await chat.sendMessage({ text: 'hi' });
    await model.cancelled;
    expect(chat.error?.message).toBe('the reply ended early (too-large)');
    expect(chat.answer).toBe('ab');
  });

  it('maps each end reason to what the AI SDK reads: [DONE]; abort then [DONE]; error then [DONE]', () => {
    expect(uiMessageStreamEnd('done')).toEqual(['[DONE]']);
    expect(uiMessageStreamEnd('stopped')).toEqual(['{"type":"abort"}', '[DONE]']);
    for (const reason of ['failed', 'producer-lost', 'too-large', 'idle', 'shutdown', 'expired'] as const) {
      const events = uiMessageStreamEnd(reason);
      expect(events.at(-1)).toBe('[DONE]');
      expect(JSON.parse(events[0] as string)).toEqual({
        type: 'error',
        errorText: `the reply ended early (${reason})`,
      });
    }
  });
});
