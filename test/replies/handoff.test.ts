/**
 * `maxDuration` hand-offs read by the real client: `connect()` with its reconnection follows a
 * reply through every cut (retry hint + last id), then stops on the `204` that answers the id of
 * the `end`. The ratio of the case (5 s responses over a 20 s reply), scaled down.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import type { ServerSentEvent } from '../../src/index.js';
import type { Produce } from '../../src/replies/index.js';
import { instancesPerTest, post, tokens } from './helpers.js';

const instance = instancesPerTest();

/** A producer of `count` tokens, one every 20 ms, that counts its runs. */
function pacedProducer(count: number): { produce: Produce; runs: () => number } {
  let runs = 0;
  const produce: Produce = async ({ send }) => {
    runs++;
    for (let i = 1; i <= count; i++) {
      await send(`t${i}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { produce, runs: () => runs };
}

describe('replies: maxDuration hand-offs read by connect()', () => {
  it('a 2 s reply in 500 ms responses: every token once, in order, one producer run, then 204 stops the client', async () => {
    const count = 100;
    const { produce, runs } = pacedProducer(count);
    const app = await instance({ produce, maxDuration: 500, retry: 50 });
    // The POST's own response is the first segment; connect() takes over from its last id, on
    // the reply's URL (what a client following Content-Location does).
    const first = await post(app.url);
    const location = new URL(first.headers.get('content-location') as string, app.url).href;
    const seen: ServerSentEvent[] = [...(await first.rest())];
    expect(first.retries).toEqual([50]);
    let opens = 0;
    let retries = 0;
    const connection = connect(location, {
      lastEventId: first.lastEventId,
      reconnect: { initialDelay: 50, maxAttempts: 5 },
      onOpen: () => void opens++,
      onReconnect: () => void retries++,
    });
    for await (const event of connection) seen.push(event);
    await connection.closed;

    expect(tokens(seen)).toEqual(Array.from({ length: count }, (_, i) => `t${i + 1}`));
    expect(seen.filter((e) => e.event === 'end').map((e) => e.data)).toEqual(['{"reason":"done"}']);
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(runs()).toBe(1);
    // Several hand-offs happened, each one a reconnect, and the last attempt got the 204.
    expect(opens).toBeGreaterThanOrEqual(2);
    expect(retries).toBe(opens);
    expect(connection.readyState).toBe(2);
    expect(app.replies.metrics().handoffs).toBe(opens);
  });

  it('connect() on the POST itself: each hand-off resumes by GET of the reply URL with Last-Event-ID, never posting again', async () => {
    const count = 50;
    const { produce, runs } = pacedProducer(count);
    const app = await instance({ produce, maxDuration: 300, retry: 50 });
    const seen: ServerSentEvent[] = [];
    let opens = 0;
    const connection = connect(`${app.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'one-reply' },
      body: '{}',
      reconnect: { initialDelay: 50, maxAttempts: 5 },
      onOpen: () => void opens++,
    });
    // Bounded: a client that never gets its 204 would reconnect for ever.
    const timer = setTimeout(() => connection.close(), 15_000);
    for await (const event of connection) seen.push(event);
    clearTimeout(timer);
    await connection.closed;
    expect(tokens(seen)).toEqual(Array.from({ length: count }, (_, i) => `t${i + 1}`));
    expect(seen.filter((e) => e.event === 'end')).toHaveLength(1);
    expect(runs()).toBe(1);
    expect(opens).toBeGreaterThanOrEqual(3);
    // One POST, then GETs of its Content-Location: no join, no second producer.
    expect(app.replies.metrics()).toMatchObject({ started: 1, joined: 0, resumed: opens - 1 });
  });
});
