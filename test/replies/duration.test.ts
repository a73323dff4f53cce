import { describe, expect, it } from 'vitest';
import type { Produce } from '../../src/replies/index.js';
import {
  get,
  instancesPerTest,
  post,
  request,
  type Stream,
  serve,
  sharedBroker,
  tokens,
  waitingProducer,
} from './helpers.js';

const instance = instancesPerTest();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('replies: maxDuration', () => {
  it('ends each response before the limit with retry and the last id; resuming, the client gets every token once', async () => {
    const count = 60;
    let runs = 0;
    const produce: Produce = async ({ send }) => {
      runs++;
      for (let i = 1; i <= count; i++) {
        await send(`t${i}`);
        await sleep(10);
      }
    };
    const app = await instance({ produce, maxDuration: 120, retry: 25 });
    let stream: Stream = await post(app.url);
    const location = stream.headers.get('content-location') as string;
    const all: Stream['events'] = [];
    let responses = 0;
    for (;;) {
      responses++;
      const events = await stream.rest();
      all.push(...events);
      if (events.at(-1)?.event === 'end') break;
      // Cut cleanly: the retry hint, and the id of the last event sent said again.
      expect(stream.retries).toEqual([25]);
      expect(stream.text.endsWith(`id: ${events.at(-1)?.id ?? stream.lastEventId}\n\n`)).toBe(true);
      expect(responses).toBeLessThan(100);
      await sleep(stream.retries[0] ?? 0);
      stream = await get(app.url, location, stream.lastEventId || undefined);
    }
    expect(tokens(all)).toEqual(Array.from({ length: count }, (_, i) => `t${i + 1}`));
    const ids = all.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(runs).toBe(1);
    expect(responses).toBeGreaterThan(2);
    expect(app.replies.metrics().handoffs).toBe(responses - 1);
  });
});

describe('replies: close()', () => {
  it('refuses new work, waits for producers up to the timeout, stops the rest (shutdown), cuts readers with a retry hint', async () => {
    const quick = waitingProducer(1);
    const stuck = waitingProducer(1);
    const app = await serve({ retry: 1234 });
    app.setProducer(quick.produce);
    const one = await post(app.url);
    await one.take(1);
    app.setProducer(stuck.produce);
    const two = await post(app.url);
    const twoLocation = two.headers.get('content-location') as string;
    await two.take(1);
    const reader = await get(app.url, twoLocation);
    await reader.take(1);
    const closing = app.replies.close({ timeout: 100 });
    quick.release();
    expect((await post(app.url)).status).toBe(503);
    expect((await request(new URL(twoLocation, app.url).href)).status).toBe(503);
    await closing;
    expect((await one.rest()).at(-1)?.data).toBe('{"reason":"done"}');
    expect(stuck.state.reason).toMatchObject({ reason: 'shutdown' });
    for (const stream of [two, reader])
      expect((await stream.rest()).at(-1)?.data).toBe('{"reason":"shutdown"}');
    await app.close();
  });

  it('while closing, refuses a POST without running its producer, and a DELETE of a reply (503)', async () => {
    const running = waitingProducer(1);
    const app = await serve({});
    app.setProducer(running.produce);
    const one = await post(app.url);
    const location = one.headers.get('content-location') as string;
    await one.take(1);
    const closing = app.replies.close({ timeout: 5000 });
    let runs = 0;
    app.setProducer(async ({ send }) => {
      runs++;
      await send('x');
    });
    const refused = await post(app.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(runs).toBe(0);
    expect((await request(new URL(location, app.url).href, { method: 'DELETE' })).status).toBe(503);
    // The running reply was neither stopped nor cut: it finishes within the timeout.
    running.release();
    await closing;
    expect((await one.rest()).at(-1)?.data).toBe('{"reason":"done"}');
    expect(runs).toBe(0);
    await app.close();
  });

  it('cuts the readers of a reply running on another instance with the retry hint; the reply goes on there', async () => {
    const broker = sharedBroker();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker, retry: 1234 });
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const onB = await get(b.url, location);
    const [first] = await onB.take(1);
    await b.replies.close();
    const events = await onB.rest();
    expect(events.map((e) => e.data)).toEqual(['t1']);
    expect(onB.retries).toEqual([1234]);
    expect(onB.lastEventId).toBe(first?.id);
    p.release();
    expect(tokens(await started.rest())).toEqual(['t1', 'last']);
  });
});
