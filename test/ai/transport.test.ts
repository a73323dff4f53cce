/**
 * `ResumableChatTransport` (ssekit/ai-sdk-client) in the AI SDK's own chat (`ai` 6's
 * `AbstractChat`) against `createChatReplies` over real sockets: a whole reply; a connection
 * dropped mid-reply resumed by the transport itself after the last id (the chat never errs,
 * every word once, no replay); fresh headers on every attempt; `null` from a resume when nothing
 * runs; a replayed resume after a reload; a stop.
 */
import type { UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { ResumableChatTransport } from '../../src/ai/transport.js';
import { API, chatInstancesPerTest, cuttableResponse, pacedModel, TestChat } from './chat-helpers.js';

const serve = chatInstancesPerTest();
const WORDS = ['Once', ' upon', ' a', ' time', ' there', ' was', ' a', ' stream', '.'];
const TEXT = WORDS.join('');
const USER: UIMessage = { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Tell me a story' }] };

/** A fetch that records each request, and can cut the body of the response it is serving. */
function recordingFetch() {
  const requests: {
    method: string;
    url: string;
    lastEventId: string | null;
    token: string | null;
    headers: Headers;
    body: unknown;
    credentials: RequestCredentials | undefined;
  }[] = [];
  let cutNow: (() => void) | undefined;
  const fetchFn = async (url: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    requests.push({
      method: init.method ?? 'GET',
      url: new URL(url).pathname,
      lastEventId: headers.get('last-event-id'),
      token: headers.get('authorization'),
      headers,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body,
      credentials: init.credentials,
    });
    const cuttable = cuttableResponse(await fetch(url, init));
    cutNow = cuttable.cut;
    return cuttable.response;
  };
  return {
    fetch: fetchFn,
    requests,
    cut() {
      cutNow?.();
    },
  };
}

/** A server whose model has every word ready at once, and a fetch that records the requests. */
async function answeringApp() {
  const app = await serve();
  const model = pacedModel(WORDS);
  model.step();
  app.setModel(model);
  return { app, model, net: recordingFetch() };
}

describe('ResumableChatTransport in the AI SDK chat', () => {
  it('streams a whole reply, and closes at [DONE] without asking again', async () => {
    const { app, net } = await answeringApp();
    const transport = new ResumableChatTransport({
      api: app.api,
      fetch: net.fetch,
      reconnect: { initialDelay: 1, maxDelay: 1 },
    });
    const chat = new TestChat({ id: 't1', api: app.api, transport });
    await chat.sendMessage({ text: 'Tell me a story' });
    expect(chat.status).toBe('ready');
    expect(chat.answer).toBe(TEXT);
    // A connection left open at [DONE] would reconnect (1 ms) once the server ends the response.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(net.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it('resumes a dropped connection after the last id by itself: no error, every word once, fresh headers each attempt, one model call', async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const net = recordingFetch();
    let tokens = 0;
    const transport = new ResumableChatTransport({
      api: app.api,
      fetch: net.fetch,
      headers: () => ({ authorization: `Bearer ${++tokens}` }),
      reconnect: { initialDelay: 10 },
    });
    const chat = new TestChat({ id: 't2', api: app.api, transport });
    model.step(5);
    const sending = chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === 'Once upon a');
    net.cut();
    model.step();
    await sending;
    expect(chat.status).toBe('ready');
    expect(chat.answer).toBe(TEXT);
    expect(model.calls).toBe(1);
    const [post, resume] = net.requests;
    expect(post).toMatchObject({ method: 'POST', url: API, lastEventId: null, token: 'Bearer 1' });
    // The reply's URL (Content-Location), after the last id the chat had: no replay.
    expect(resume?.method).toBe('GET');
    expect(resume?.url).toMatch(new RegExp(`^${API}/replies/[\\w-]{22}$`));
    expect(resume?.lastEventId).toMatch(/^\d+-\d+$/);
    expect(resume?.token).toBe('Bearer 2');
    expect(app.chat.metrics().resumed).toBe(1);
  });

  it('reconnectToStream: null when the chat has nothing running; after a reload, the running reply from its start', async () => {
    const app = await serve();
    const transport = new ResumableChatTransport({ api: app.api });
    expect(await transport.reconnectToStream({ chatId: 'nobody' })).toBeNull();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const first = new TestChat({ id: 't3', api: app.api, transport });
    model.step(4);
    void first.sendMessage({ text: 'Tell me a story' });
    await first.store.until(() => first.answer === 'Once upon');
    const reloaded = new TestChat({ id: 't3', api: app.api, messages: [USER], transport });
    const resuming = reloaded.resumeStream();
    await reloaded.store.until(() => reloaded.answer === 'Once upon');
    model.step();
    await resuming;
    expect(reloaded.answer).toBe(TEXT);
    expect(reloaded.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it("stop: the chat's stop ends the tab's stream; the DELETE stops the model", async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const transport = new ResumableChatTransport({ api: app.api });
    const chat = new TestChat({ id: 't4', api: app.api, transport });
    model.step(4);
    const sending = chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === 'Once upon');
    await Promise.all([chat.stop(), fetch(`${app.url}${API}/t4/stream`, { method: 'DELETE' })]);
    await sending;
    await model.aborted;
    expect(chat.status).toBe('ready');
    expect(chat.answer).toBe('Once upon');
  });

  it("aborting sendMessages' abortSignal ends the stream it returned at once, the model left running", async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const transport = new ResumableChatTransport({ api: app.api });
    const controller = new AbortController();
    const stream = await transport.sendMessages({
      chatId: 't6',
      messages: [USER],
      abortSignal: controller.signal,
      trigger: 'submit-message',
      messageId: undefined,
    });
    model.step(3);
    const reader = stream.getReader();
    const types: string[] = [];
    while (types.length < 3) types.push((await reader.read()).value.type);
    expect(types).toEqual(['start', 'text-start', 'text-delta']);
    controller.abort();
    const outcome = await Promise.race([
      reader.read().then(
        (result) => (result.done ? 'done' : `chunk ${JSON.stringify(result.value)}`),
        (error: unknown) => (error as Error).name,
      ),
      new Promise((resolve) => setTimeout(resolve, 2000, 'still streaming')),
    ]);
    // connect ends cleanly on its signal: the stream closes, no chunk after the abort.
    expect(outcome).toBe('done');
    expect(model.calls).toBe(1);
    model.step();
  });

  it("sends the chat's own headers and body with the POST, beside the transport's, and credentials", async () => {
    const { app, net } = await answeringApp();
    const transport = new ResumableChatTransport({
      api: app.api,
      fetch: net.fetch,
      headers: { 'x-app': 'a', 'x-both': 'transport' },
      body: { model: 'small', both: 'transport' },
    });
    const chat = new TestChat({ id: 't7', api: app.api, transport });
    await chat.sendMessage(
      { text: 'Tell me a story' },
      { headers: { 'x-request': 'r', 'x-both': 'request' }, body: { tool: 'on', both: 'request' } },
    );
    expect(chat.answer).toBe(TEXT);
    const [post] = net.requests;
    expect([post?.headers.get('x-app'), post?.headers.get('x-request'), post?.headers.get('x-both')]).toEqual(
      ['a', 'r', 'request'],
    );
    expect(post?.headers.get('content-type')).toBe('application/json');
    expect(post?.body).toMatchObject({
      id: 't7',
      trigger: 'submit-message',
      model: 'small',
      tool: 'on',
      both: 'request',
    });
    expect(post?.credentials).toBe('same-origin');
    const including = new ResumableChatTransport({ api: app.api, fetch: net.fetch, credentials: 'include' });
    expect(await including.reconnectToStream({ chatId: 'nobody' })).toBeNull();
    expect(net.requests.at(-1)?.credentials).toBe('include');
  });

  it('reconnectToStream encodes the chat id: an id with / # ? and spaces reaches its own route', async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const id = 'a/b #1?x=2';
    const transport = new ResumableChatTransport({ api: app.api });
    const first = new TestChat({ id, api: app.api, transport });
    model.step(4);
    void first.sendMessage({ text: 'Tell me a story' });
    await first.store.until(() => first.answer === 'Once upon');
    const reloaded = new TestChat({ id, api: app.api, messages: [USER], transport });
    const resuming = reloaded.resumeStream();
    await reloaded.store.until(() => reloaded.answer === 'Once upon');
    model.step();
    await resuming;
    expect(reloaded.answer).toBe(TEXT);
  });

  it('reconnectToStream rejects, rather than waits forever, when the first attempt fails before any response', async () => {
    const failure = new Error('no token');
    const transport = new ResumableChatTransport({
      api: 'http://127.0.0.1:9/api/chat',
      reconnect: false,
      headers: () => {
        throw failure;
      },
    });
    const outcome = await Promise.race([
      transport.reconnectToStream({ chatId: 'x' }).then(
        () => 'resolved',
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(resolve, 2000, 'pending')),
    ]);
    // connect's NetworkError, with the failure as its cause.
    expect(outcome).toMatchObject({ name: 'NetworkError', cause: failure });
  });

  it('reconnectToStream rejects with the fetch failure itself when the server cannot be reached', async () => {
    const refused = new TypeError('fetch failed');
    const transport = new ResumableChatTransport({
      api: 'http://127.0.0.1:9/api/chat',
      reconnect: false,
      fetch: () => Promise.reject(refused),
    });
    const outcome = await Promise.race([
      transport.reconnectToStream({ chatId: 'x' }).then(
        () => 'resolved',
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(resolve, 2000, 'pending')),
    ]);
    // fetch's own error, as the AI SDK's DefaultChatTransport would reject with it (not wrapped).
    expect(outcome).toBe(refused);
  });
});
