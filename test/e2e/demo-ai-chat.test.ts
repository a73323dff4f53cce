/**
 * The demo's AI SDK chat endpoints (demo/server.mjs, `ssekit/ai-sdk`) driven by the AI SDK's own
 * chat (`ai` 6: `AbstractChat` + `DefaultChatTransport`, what `useChat` runs): POST
 * /api/ai/chat, resume at GET /api/ai/chat/<chatId>/stream, stop at DELETE there. A resume never
 * starts a producer: `ssekit_replies_started_total` counts one a turn. On memory, and on two
 * demo servers sharing Redis (the resume and the stop served by the other one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UIMessage } from 'ai';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ANSWERS } from '../../demo/bot.mjs';
import { startDemo } from '../../demo/server.mjs';
import { TestChat } from '../ai/chat-helpers.js';
import { metric } from '../helpers/demo.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';

type Demo = Awaited<ReturnType<typeof startDemo>>;
const open: Demo[] = [];
const dirs: string[] = [];
const prefixes: string[] = [];
let logged = '';
const available = await redisAvailable();

async function demo(redisPrefix?: string): Promise<Demo> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ssekit-demo-ai-'));
  dirs.push(dataDir);
  const started = await startDemo({
    port: 0,
    host: '127.0.0.1',
    dataDir,
    ...(redisPrefix ? { redisUrl: REDIS_URL, redisPrefix } : {}),
    log: (line: string) => {
      logged += `${line}\n`;
    },
  });
  open.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (available) await Promise.all(prefixes.map(deletePrefix));
});

const USER: UIMessage = { id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Hello bot' }] };
const isAnswer = (text: string) =>
  text.startsWith('You said “Hello bot”.') && ANSWERS.some((a) => text.endsWith(a));

describe("the demo's AI SDK chat", () => {
  it('streams a reply to the AI SDK chat; resumes it after a reload with its text once; one producer', async () => {
    const d = await demo();
    const first = new TestChat({ id: 'demo-1', api: `${d.url}/api/ai/chat` });
    const sending = first.sendMessage({ text: 'Hello bot' });
    await first.store.until(() => first.answer.length > 20);
    const reloaded = new TestChat({ id: 'demo-1', api: `${d.url}/api/ai/chat`, messages: [USER] });
    await reloaded.resumeStream();
    await sending;
    expect(isAnswer(reloaded.answer)).toBe(true);
    expect(reloaded.answer).toBe(first.answer);
    expect(reloaded.store.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(await metric(d.url, 'ssekit_replies_started_total')).toBe(1);
    // Done: nothing to resume.
    expect((await fetch(`${d.url}/api/ai/chat/demo-1/stream`)).status).toBe(204);
  }, 30_000);

  it('DELETE /api/ai/chat/<chatId>/stream stops the bot; from another Origin it is refused', async () => {
    const d = await demo();
    const chat = new TestChat({ id: 'demo-2', api: `${d.url}/api/ai/chat` });
    const sending = chat.sendMessage({ text: 'Hello bot' });
    await chat.store.until(() => chat.answer.length > 20);
    const foreign = await fetch(`${d.url}/api/ai/chat/demo-2/stream`, {
      method: 'DELETE',
      headers: { origin: 'https://elsewhere.example' },
    });
    expect(foreign.status).toBe(403);
    expect((await fetch(`${d.url}/api/ai/chat/demo-2/stream`, { method: 'DELETE' })).status).toBe(204);
    await sending;
    expect(chat.status).toBe('ready');
    expect(isAnswer(chat.answer)).toBe(false);
    expect(await metric(d.url, 'ssekit_replies_ended_total{reason="stopped"}')).toBe(1);
    expect(logged).toMatch(/reply stopped after \d+ tokens; producer stopped/);
  }, 30_000);

  it('refuses a body that is not the transport’s (400)', async () => {
    const d = await demo();
    const post = (body: unknown) =>
      fetch(`${d.url}/api/ai/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ id: 'x' })).status).toBe(400);
    expect((await post({ messages: [USER] })).status).toBe(400);
    expect((await post({ id: 'x', messages: [{ role: 'user', parts: [] }] })).status).toBe(400);
  });

  it.skipIf(!available)(
    'on Redis, the other demo server resumes and stops a reply: one producer',
    async () => {
      const prefix = uniquePrefix('demo-ai');
      prefixes.push(prefix);
      const a = await demo(prefix);
      const b = await demo(prefix);
      const first = new TestChat({ id: 'demo-3', api: `${a.url}/api/ai/chat` });
      const sending = first.sendMessage({ text: 'Hello bot' });
      await first.store.until(() => first.answer.length > 20);
      const reloaded = new TestChat({ id: 'demo-3', api: `${b.url}/api/ai/chat`, messages: [USER] });
      const resuming = reloaded.resumeStream();
      await reloaded.store.until(() => reloaded.answer.length > 20);
      expect((await fetch(`${b.url}/api/ai/chat/demo-3/stream`, { method: 'DELETE' })).status).toBe(204);
      await Promise.all([sending, resuming]);
      expect(reloaded.answer).toBe(first.answer);
      expect(isAnswer(first.answer)).toBe(false);
      expect(
        (await metric(a.url, 'ssekit_replies_started_total')) +
          (await metric(b.url, 'ssekit_replies_started_total')),
      ).toBe(1);
      expect(await metric(a.url, 'ssekit_replies_ended_total{reason="stopped"}')).toBe(1);
    },
    30_000,
  );
});
