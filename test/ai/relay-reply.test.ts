/**
 * docs/ai-providers.md, "Resumable": a provider's stream (an OpenAI Chat Completions stream from
 * a local server, paced) read with readOpenAIChat inside a reply's producer. The provider is
 * called once whoever reads; a reader that drops resumes from its last id; DELETE of the reply
 * aborts the provider's request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOpenAIChat } from '../../src/ai/index.js';
import { listen } from '../helpers/server.js';
import { get, instancesPerTest, post, request, settles, tokens } from '../replies/helpers.js';

const WORDS = Array.from({ length: 40 }, (_, i) => `w${i} `);
const provider = { calls: 0, aborted: 0, done: 0 };
let upstream: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  upstream = await listen(async (_req, res) => {
    provider.calls++;
    let closed = false;
    res.on('close', () => {
      closed = true;
      if (!res.writableFinished) provider.aborted++;
    });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const word of WORDS) {
      if (closed) return;
      const chunk = {
        id: 'c1',
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { content: word } }],
      };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    res.end('data: [DONE]\n\n');
    provider.done++;
  });
});
afterAll(() => upstream.close());

const instance = instancesPerTest();

async function relay() {
  return instance({
    produce: async ({ send, signal }) => {
      const response = await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', signal });
      for await (const text of readOpenAIChat(response).text()) await send(text);
    },
  });
}

describe('a provider relayed as a resumable reply', () => {
  it('calls the provider once; a reader that drops resumes after its last id, every token once', async () => {
    const before = { ...provider };
    const app = await relay();
    const first = await post(app.url);
    const got = await first.take(5);
    first.disconnect();
    const again = await get(app.url, first.headers.get('content-location') as string, got.at(-1)?.id);
    const rest = await settles(again.rest(), 'the resumed reply');
    expect([...tokens(got), ...tokens(rest)]).toEqual(WORDS);
    expect(rest.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"done"}' });
    expect(provider.calls - before.calls).toBe(1);
  });

  it('DELETE of the reply aborts the request to the provider', async () => {
    const before = { ...provider };
    const app = await relay();
    const stream = await post(app.url);
    await stream.take(3);
    const location = stream.headers.get('content-location') as string;
    expect((await request(new URL(location, app.url).href, { method: 'DELETE' })).status).toBe(204);
    const events = await settles(stream.rest(), 'the stopped reply');
    expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"stopped"}' });
    await expect.poll(() => provider.aborted - before.aborted, { timeout: 5000 }).toBe(1);
    expect(provider.done - before.done).toBe(0);
  });
});
