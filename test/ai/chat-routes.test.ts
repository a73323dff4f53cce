/**
 * The chat routes beyond what the AI SDK's transport sends: a resume after `Last-Event-ID` (a
 * client that keeps ids), the end's id carried by `data: [DONE]`, methods and chat ids refused.
 */
import { describe, expect, it } from 'vitest';
import { createChatReplies } from '../../src/ai/sdk.js';
import { createParser, type ServerSentEvent } from '../../src/index.js';
import { API, chatInstancesPerTest, pacedModel } from './chat-helpers.js';

const serve = chatInstancesPerTest();

/** Reads a response until `count` events have come (or it ends), then lets it go. */
async function readEvents(response: Response, count = Number.POSITIVE_INFINITY): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  while (events.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  await reader.cancel();
  return events;
}

const post = (api: string, id: string) =>
  fetch(api, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, messages: [], trigger: 'submit-message' }),
  });

describe('chat routes', () => {
  it('resumes after Last-Event-ID with what follows it only, even once the reply has ended; a resume with the id of [DONE] gets 204', async () => {
    const app = await serve();
    const model = pacedModel(['a', 'b', 'c']);
    app.setModel(model);
    model.step(4);
    const started = await post(app.api, 'k1');
    const location = started.headers.get('content-location') as string;
    const first = await readEvents(started, 4);
    expect(first.map((e) => JSON.parse(e.data).type)).toEqual([
      'start',
      'text-start',
      'text-delta',
      'text-delta',
    ]);
    // The reply ends while the client is away (the reply's URL, read whole, says when).
    model.step();
    const whole = await readEvents(await fetch(`${app.url}${location}`));
    expect(whole.map((e) => e.data).at(-1)).toBe('[DONE]');
    expect(whole).toHaveLength(model.chunks.length + 1);
    // A finished reply is not resumed from its start (204), but the rest after an id is served.
    expect((await fetch(`${app.url}${API}/k1/stream`)).status).toBe(204);
    const resumed = await fetch(`${app.url}${API}/k1/stream`, {
      headers: { 'last-event-id': first[3]?.id as string },
    });
    expect(resumed.status).toBe(200);
    const rest = await readEvents(resumed);
    expect(rest.map((e) => e.data)).toEqual([
      JSON.stringify({ type: 'text-delta', id: 't', delta: 'c' }),
      JSON.stringify({ type: 'text-end', id: 't' }),
      JSON.stringify({ type: 'finish', finishReason: 'stop' }),
      '[DONE]',
    ]);
    // The end's id is on [DONE]: a client that has it is told there is nothing more.
    const done = rest.at(-1)?.id as string;
    expect(done).toMatch(/^\d+-\d+$/);
    expect((await fetch(`${app.url}${location}`, { headers: { 'last-event-id': done } })).status).toBe(204);
    expect((await fetch(`${app.url}${API}/k1/stream`, { headers: { 'last-event-id': done } })).status).toBe(
      204,
    );
  });

  it('refuses other methods (405) and chat ids with control characters (404 on the route, RangeError on start)', async () => {
    const app = await serve();
    expect((await fetch(`${app.url}${API}/k3/stream`, { method: 'PUT' })).status).toBe(405);
    expect((await fetch(`${app.url}${API}/a%0Ab/stream`)).status).toBe(404);
    await expect(
      app.chat.start(new Request('http://x/'), 'a\nb', () => new ReadableStream()),
    ).rejects.toBeInstanceOf(RangeError);
    expect((await fetch(`${app.url}/elsewhere`)).status).toBe(404);
  });

  it('answers 404, not an error, to a chat route whose id is not a chat id: broken percent-encoding, empty, or with a slash', async () => {
    const errors: unknown[] = [];
    const app = await serve({ onError: (error) => errors.push(error) });
    for (const id of ['%E0%A4%A', '%', '', 'a/b']) {
      expect((await fetch(`${app.url}${API}/${id}/stream`)).status).toBe(404);
    }
    // A well-formed id with no reply running is another answer: nothing to resume (204).
    expect((await fetch(`${app.url}${API}/caf%C3%A9/stream`)).status).toBe(204);
    expect(errors).toEqual([]);
  });

  it("refuses an api that is not a path ('chat', a URL) with a TypeError", () => {
    expect(() => createChatReplies({ api: 'api/chat' })).toThrow(TypeError);
    expect(() => createChatReplies({ api: 'https://x.example/api/chat' })).toThrow(/starting with '\/'/);
  });

  it('takes an api with a trailing slash as the same api: its chat routes and reply URLs are served', async () => {
    const app = await serve({ api: `${API}/` });
    const model = pacedModel(['a']);
    app.setModel(model);
    model.step(2);
    const started = await post(app.api, 'k5');
    const location = started.headers.get('content-location') as string;
    expect(location.startsWith(`${API}/replies/`)).toBe(true);
    const resumed = await fetch(`${app.url}${API}/k5/stream`);
    expect(resumed.status).toBe(200);
    expect((await readEvents(resumed, 2)).map((e) => JSON.parse(e.data).type)).toEqual([
      'start',
      'text-start',
    ]);
    expect((await fetch(`${app.url}${location}`, { method: 'DELETE' })).status).toBe(204);
    await model.aborted;
    await started.body?.cancel();
  });

  it("asks authorize for read and stop on the chat's reply, and answers its refusals", async () => {
    const asked: string[] = [];
    const app = await serve({
      authorize: ({ request, action, id }) => {
        asked.push(`${action} ${id === undefined ? '-' : 'reply'}`);
        return request.headers.get('authorization') === 'Bearer ok' || action === 'start';
      },
    });
    const model = pacedModel(['a']);
    app.setModel(model);
    model.step(2);
    const started = await post(app.api, 'k4');
    expect(started.status).toBe(200);
    const stream = `${app.url}${API}/k4/stream`;
    expect((await fetch(stream)).status).toBe(403);
    expect((await fetch(stream, { method: 'DELETE' })).status).toBe(403);
    expect(model.calls).toBe(1);
    expect((await fetch(stream, { method: 'DELETE', headers: { authorization: 'Bearer ok' } })).status).toBe(
      204,
    );
    await model.aborted;
    expect(asked).toEqual(['start -', 'read reply', 'stop reply', 'stop reply']);
    await started.body?.cancel();
  });
});
