/**
 * A chat's active reply across instances on Redis: each instance has its own Redis connections,
 * as two servers would; the chat -> reply mapping lives on Redis alone.
 */
import type { UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { redisAvailable, redisBrokers } from '../helpers/redis.js';
import { API, chatInstancesPerTest, pacedModel, TestChat } from './chat-helpers.js';

const available = await redisAvailable();
const redis = redisBrokers();
const serve = chatInstancesPerTest();
const WORDS = ['Once', ' upon', ' a', ' time', '.'];
const USER: UIMessage = { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Tell me a story' }] };

async function pair() {
  const prefix = redis.freshPrefix('ai-chat');
  const make = async () => {
    const broker = redis.broker(prefix);
    await broker.ready();
    return serve({ broker, onError: () => {} });
  };
  return [await make(), await make()] as const;
}

describe.skipIf(!available)('useChat on createChatReplies, two instances on Redis', () => {
  it('resumes on B, after a reload, the reply A runs: the whole text once, one model call', async () => {
    const [a, b] = await pair();
    const model = pacedModel(WORDS);
    a.setModel(model);
    const first = new TestChat({ id: 'r1', api: a.api });
    model.step(4);
    void first.sendMessage({ text: 'Tell me a story' });
    await first.store.until(() => first.answer === 'Once upon');
    const reloaded = new TestChat({ id: 'r1', api: b.api, messages: [USER] });
    const resuming = reloaded.resumeStream();
    await reloaded.store.until(() => reloaded.answer === 'Once upon');
    model.step();
    await resuming;
    expect(reloaded.answer).toBe(WORDS.join(''));
    expect(reloaded.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(model.calls).toBe(1);
    expect(a.chat.metrics().started + b.chat.metrics().started).toBe(1);
  });

  it("stops A's model call on DELETE at B; B then answers 204 to a resume", async () => {
    const [a, b] = await pair();
    const model = pacedModel(WORDS);
    a.setModel(model);
    const chat = new TestChat({ id: 'r2', api: a.api });
    model.step(3);
    const sending = chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === 'Once');
    expect((await fetch(`${b.url}${API}/r2/stream`, { method: 'DELETE' })).status).toBe(204);
    await model.aborted;
    await model.cancelled;
    await sending;
    expect(chat.answer).toBe('Once');
    expect((await fetch(`${b.url}${API}/r2/stream`)).status).toBe(204);
  });

  it('a turn started on B stops the turn A still runs for the same chat', async () => {
    const [a, b] = await pair();
    const first = pacedModel(WORDS);
    first.step(3);
    a.setModel(first);
    const chat = new TestChat({ id: 'r3', api: a.api });
    void chat.sendMessage({ text: 'Tell me a story' });
    await chat.store.until(() => chat.answer === 'Once');
    const second = pacedModel(['Again']);
    second.step();
    b.setModel(second);
    const other = new TestChat({ id: 'r3', api: b.api, messages: [USER] });
    await other.sendMessage({ text: 'Another one' });
    expect(other.answer).toBe('Again');
    await first.aborted;
  });
});
