/**
 * The readers over a real socket: a node:http server on 127.0.0.1 plays a recorded stream in
 * small writes, and `fetch` reads it, as an app would read the provider.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isProviderStreamError,
  type ProviderStreamError,
  readAnthropic,
  readOpenAIChat,
} from '../../src/ai/index.js';
import { connect } from '../../src/client/index.js';
import { listen } from '../helpers/server.js';
import { drain, encoder, fixture } from './helpers.js';

/** Writes `bytes` in pieces of `size`, each after the previous one is flushed. */
async function play(res: ServerResponse, bytes: Uint8Array, size: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    await new Promise<void>((resolve, reject) =>
      res.write(piece, (error) => (error ? reject(error) : resolve())),
    );
  }
}

let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  server = await listen(async (req, res) => {
    const sse = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
    if (req.url === '/anthropic') {
      res.writeHead(200, sse);
      await play(res, encoder.encode(fixture('anthropic')), 7).catch(() => {});
      res.end();
    } else if (req.url === '/cut') {
      // The connection dies half way through the answer: no end marker, no clean end.
      res.writeHead(200, sse);
      const whole = encoder.encode(fixture('openai-chat'));
      await play(res, whole.subarray(0, whole.length >> 1), 64).catch(() => {});
      res.destroy();
    } else {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' });
      res.end(
        JSON.stringify({
          error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' },
        }),
      );
    }
  });
});

afterAll(() => server.close());

describe('over fetch', () => {
  it('reads a stream written in small pieces to its end', async () => {
    const text = await drain(readAnthropic(await fetch(`${server.url}/anthropic`)).text());
    expect(text).toEqual({ items: ['Bonjour', ' à tous 😀,', ' 世界 €5.'] });
  });

  it('reads a connect() connection, and closes it at the end marker', async () => {
    const connection = connect(`${server.url}/anthropic`, { method: 'POST', body: '{}', reconnect: false });
    const text = await drain(readAnthropic(connection).text());
    expect(text).toEqual({ items: ['Bonjour', ' à tous 😀,', ' 世界 €5.'] });
    expect(connection.readyState).toBe(2);
  });

  it('reports a connection that dies before the end marker as incomplete', async () => {
    const { items, error } = await drain(readOpenAIChat(await fetch(`${server.url}/cut`)).text());
    expect(items.length).toBeGreaterThan(0);
    expect(isProviderStreamError(error)).toBe(true);
    expect((error as ProviderStreamError).type).toBe('incomplete');
  });

  it("refuses a 429 with the status and the provider's code", async () => {
    const { error } = await drain(readOpenAIChat(await fetch(`${server.url}/limited`)));
    expect(error).toMatchObject({ type: 'http', status: 429, code: 'rate_limit_exceeded' });
  });
});
