/**
 * `createChatReplies` driven by the AI SDK's own client (`ai` 6: `AbstractChat`, the core of
 * `useChat`, with `DefaultChatTransport`) over real sockets: a whole reply, a reply resumed after
 * its connection dropped and after a reload (nothing lost, nothing twice, one model call), a stop
 * that aborts the model call, and the `204` of a chat with nothing running.
 */
import { DefaultChatTransport, type UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { createMemoryBroker } from '../../src/hub/index.js';
import { settles } from '../replies/helpers.js';
import { API, chatInstancesPerTest, cuttableFetch, pacedModel, TestChat } from './chat-helpers.js';

const serve = chatInstancesPerTest();
const WORDS = ['Once', ' upon', ' a', ' time', ' there', ' was', ' a', ' stream', '.'];
const TEXT = WORDS.join('');
const USER: UIMessage = { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Tell me a story' }] };

describe('useChat (the AI SDK chat) on createChatReplies', () => {
  it('streams a whole reply in the UI message stream protocol: its header, data-only JSON events, data: [DONE]', async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    model.step();
    app.setModel(model);
    const response = await fetch(app.api, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', messages: [USER], trigger: 'submit-message' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // ssekit's anti-buffering headers, which the AI SDK's own response leaves out (no-transform).
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(response.headers.get('content-location')).toMatch(new RegExp(`^${API}/replies/[\\w-]{22}$`));
    // A comment may open the stream (ssekit flushes the headers with one): SSE readers skip it.
    const blocks = (await response.text()).split('\n\n').filter((b) => b !== '' && !b.startsWith(':'));
    const data = blocks.map((b) => {
      const lines = b.split('\n');
      // An id (the log's) and one data line; never an event type, which the AI SDK does not send.
      expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual(['id', 'data']);
      return (lines[1] as string).slice('data: '.length);
    });
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.slice(0, -1).map((d) => JSON.parse(d))).toEqual(model.chunks);
  });

  it("gives the AI SDK's chat the whole reply", async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    model.step();
    app.setModel(model);
    const chat = new TestChat({ id: 'c2', api: app.api });
    await chat.sendMessage({ text: 'Tell me a story' });
    expect(chat.status).toBe('ready');
    expect(chat.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(chat.answer).toBe(TEXT);
  });

  it('resumes a reply whose connection dropped mid-reply (chat.resumeStream): every word once, one model call', async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    app.setModel(model);
    const net = cuttableFetch();
    const chat = new TestChat({ id: 'c3', api: app.api, fetch: net.fetch });
    // start, text-start and three words reach the chat; then the connection drops.
    model.step(5);
    const sending = chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === WORDS.slice(0, 3).join(''));
    net.cut();
    await sending;
    expect(chat.status).toBe('error');
    // The model goes on without a reader: two more words while nobody listens.
    model.step(2);
    const resuming = chat.resumeStream();
    // The resume replays the reply from its start (the transport's default): the chat rebuilds
    // the message at its `start` chunk, up to what the model has said by now.
    await chat.store.until(() => chat.answer === WORDS.slice(0, 5).join(''));
    model.step();
    await resuming;
    expect(chat.status).toBe('ready');
    expect(chat.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(chat.answer).toBe(TEXT);
    expect(model.calls).toBe(1);
    expect(app.chat.metrics().started).toBe(1);
  });

  it('resumes after a reload (a new chat with the stored messages, resume: true) on another instance sharing the broker', async () => {
    const broker = createMemoryBroker();
    const a = await serve({ broker });
    const b = await serve({ broker });
    const model = pacedModel(WORDS);
    a.setModel(model);
    const first = new TestChat({ id: 'c4', api: a.api });
    model.step(4);
    void first.sendMessage({ text: 'Tell me a story' });
    await first.store.until(() => first.answer === WORDS.slice(0, 2).join(''));
    // The reload: the page keeps the user's message (what an app stores), and resumes.
    const reloaded = new TestChat({ id: 'c4', api: b.api, messages: [USER] });
    const resuming = reloaded.resumeStream();
    await reloaded.store.until(() => reloaded.answer === WORDS.slice(0, 2).join(''));
    model.step();
    await resuming;
    expect(reloaded.answer).toBe(TEXT);
    expect(reloaded.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(model.calls).toBe(1);
    await first.store.until(() => first.answer === TEXT);
  });

  it('stops the model call on DELETE <api>/<chatId>/stream from another instance; the chat ends as the AI SDK ends an abort', async () => {
    const broker = createMemoryBroker();
    const a = await serve({ broker });
    const b = await serve({ broker });
    const model = pacedModel(WORDS);
    a.setModel(model);
    const chat = new TestChat({ id: 'c5', api: a.api });
    model.step(4);
    const sending = chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === WORDS.slice(0, 2).join(''));
    const stop = await fetch(`${b.url}${API}/c5/stream`, { method: 'DELETE' });
    expect(stop.status).toBe(204);
    const reason = await model.aborted;
    expect((reason as Error).name).toBe('ReplyStoppedError');
    // The model's stream is cancelled too (a model call that ignores the signal still ends).
    await model.cancelled;
    await sending;
    expect(chat.status).toBe('ready');
    expect(chat.answer).toBe(WORDS.slice(0, 2).join(''));
    expect(a.chat.metrics().ended.stopped).toBe(1);
    // Nothing runs for the chat any more.
    expect((await fetch(`${b.url}${API}/c5/stream`)).status).toBe(204);
  });

  it('answers 204 to a resume when the chat has no running reply (unknown chat, reply finished): the transport resumes nothing', async () => {
    const app = await serve();
    const transport = new DefaultChatTransport({ api: app.api });
    expect(await transport.reconnectToStream({ chatId: 'nobody' })).toBeNull();
    const model = pacedModel(WORDS);
    model.step();
    app.setModel(model);
    const chat = new TestChat({ id: 'c6', api: app.api });
    await chat.sendMessage({ text: 'Tell me a story' });
    expect(chat.answer).toBe(TEXT);
    expect(await transport.reconnectToStream({ chatId: 'c6' })).toBeNull();
    expect((await fetch(`${app.url}${API}/nobody/stream`, { method: 'DELETE' })).status).toBe(404);
  });

  it('a new message in the chat stops the reply before it (one active reply a chat)', async () => {
    const app = await serve();
    const first = pacedModel(WORDS);
    app.setModel(first);
    first.step(3);
    const response = await fetch(app.api, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c7', messages: [USER], trigger: 'submit-message' }),
    });
    const second = pacedModel(['Again']);
    second.step();
    app.setModel(second);
    const chat = new TestChat({ id: 'c7', api: app.api });
    await chat.sendMessage({ text: 'Tell me another' });
    expect(chat.answer).toBe('Again');
    await first.aborted;
    await response.body?.cancel();
  });

  it('close({ timeout }) gives running replies that long, not the default 5 s, then ends them with shutdown', async () => {
    const app = await serve();
    const model = pacedModel(WORDS);
    model.step(3); // start, text-start, one word: then the model waits
    app.setModel(model);
    const response = await fetch(app.api, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c-close', messages: [USER], trigger: 'submit-message' }),
    });
    const body = response.text();
    await settles(app.chat.close({ timeout: 50 }), 'close with a 50 ms timeout', 2000);
    expect(await model.aborted).toMatchObject({ reason: 'shutdown' });
    expect(await body).toContain('"type":"error"');
  });
});
