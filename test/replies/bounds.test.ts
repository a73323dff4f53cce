import { describe, expect, it, vi } from 'vitest';
import { createMemoryBroker } from '../../src/hub/index.js';
import { deferred } from '../helpers/server.js';
import { get, instancesPerTest, post, tokens, waitingProducer } from './helpers.js';

const instance = instancesPerTest();

describe('replies: bounds', () => {
  it('answers 503 with Retry-After (retryAfter ms in whole seconds, rounded up) past maxRunning, and takes replies again once one ends', async () => {
    const producers = [waitingProducer(1), waitingProducer(1)];
    const app = await instance({ limits: { maxRunning: 2 }, retryAfter: 6001 });
    const streams = [];
    for (const p of producers) {
      app.setProducer(p.produce);
      const stream = await post(app.url);
      await stream.take(1);
      streams.push(stream);
    }
    app.setProducer(async () => {});
    const refused = await post(app.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('7');
    producers[0]?.release();
    await streams[0]?.rest();
    await vi.waitFor(() => expect(app.replies.metrics().running).toBe(1));
    expect((await post(app.url)).status).toBe(200);
    expect(app.replies.metrics().rejected).toEqual({ 503: 1 });
  });

  it('answers 503 with Retry-After past maxReaders (open responses), and serves again once one closes', async () => {
    const p = waitingProducer(1);
    const app = await instance({ produce: p.produce, limits: { maxReaders: 2 } });
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const second = await get(app.url, location);
    await second.take(1);
    const third = await get(app.url, location);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('5');
    second.disconnect();
    await vi.waitFor(() => expect(app.replies.metrics().readers).toBe(1));
    expect((await get(app.url, location)).status).toBe(200);
  });

  it('holds maxReaders for resumes that arrive together (each passes the first check before any has opened)', async () => {
    const p = waitingProducer(1);
    // History reads that take a while (as on Redis): the three resumes wait in them together.
    const inner = createMemoryBroker();
    const broker = {
      ...inner,
      history: async (...args: Parameters<typeof inner.history>) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return inner.history(...args);
      },
    };
    const app = await instance({ broker, produce: p.produce, limits: { maxReaders: 2 } });
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    // One response is open, one more fits: of three resumes asked at once, one gets in.
    const resumes = await Promise.all([1, 2, 3].map(() => get(app.url, location)));
    expect(resumes.map((r) => r.status).sort()).toEqual([200, 503, 503]);
    expect(app.replies.metrics().readers).toBe(2);
    for (const r of resumes) r.disconnect();
  });

  it('answers 503 to a resume still reading its log when close() begins', async () => {
    const p = waitingProducer(1);
    const inner = createMemoryBroker();
    const reading = deferred();
    const broker = {
      ...inner,
      history: async (...args: Parameters<typeof inner.history>) => {
        reading.resolve();
        await new Promise((resolve) => setTimeout(resolve, 30));
        return inner.history(...args);
      },
    };
    const app = await instance({ broker, produce: p.produce });
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const resume = get(app.url, location);
    await reading.promise;
    const closed = app.replies.close({ timeout: 0 });
    const refused = await resume;
    expect(refused.status).toBe(503);
    await refused.rest();
    expect(refused.text).toContain('shutting down');
    p.release();
    await closed;
  });

  it('ends a reply as too-large at maxEventsPerReply: send resolves false, the signal aborts', async () => {
    const results: boolean[] = [];
    let reason: unknown;
    const app = await instance({
      limits: { maxEventsPerReply: 3 },
      produce: async ({ send, signal }) => {
        for (let i = 1; i <= 5; i++) results.push(await send(`t${i}`));
        reason = signal.reason;
      },
    });
    const events = await (await post(app.url)).rest();
    expect(tokens(events)).toEqual(['t1', 't2', 't3']);
    expect(events.at(-1)?.data).toBe('{"reason":"too-large"}');
    expect(results).toEqual([true, true, true, false, false]);
    expect(reason).toMatchObject({ name: 'ReplyStoppedError', reason: 'too-large' });
  });

  it('ends a reply as too-large at maxBytesPerReply (UTF-8 bytes of data and type)', async () => {
    const app = await instance({
      limits: { maxBytesPerReply: 10 },
      produce: async ({ send }) => {
        await send('ééé'); // 6 bytes
        await send({ event: 'x', data: 'abc' }); // 4: 10 in all
        await send('z'); // 11: refused
      },
    });
    const events = await (await post(app.url)).rest();
    expect(events.map((e) => e.data)).toEqual(['ééé', 'abc', '{"reason":"too-large"}']);
  });

  it('drops the finished replies started longest ago past maxStoredBytes (404), and refuses when only running ones are left', async () => {
    // 1 KiB is counted per reply, and each event as the broker counts it (its data plus about
    // 230 bytes of id, topics and overhead): three replies of one event fit in 4 KiB, not four.
    const app = await instance({ limits: { maxStoredBytes: 4096 } });
    app.setProducer(async ({ send }) => void (await send('x')));
    const locations: string[] = [];
    for (let i = 0; i < 3; i++) {
      const stream = await post(app.url);
      locations.push(stream.headers.get('content-location') as string);
      await stream.rest();
    }
    await vi.waitFor(() => expect(app.replies.metrics().running).toBe(0));
    const fourth = await post(app.url);
    await fourth.rest();
    expect((await get(app.url, locations[0] as string)).status).toBe(404);
    expect((await get(app.url, locations[1] as string)).status).toBe(200);
    expect((await get(app.url, fourth.headers.get('content-location') as string)).status).toBe(200);

    const busy = await instance({ limits: { maxStoredBytes: 2048 } });
    const p = [waitingProducer(0), waitingProducer(0)];
    busy.setProducer((p[0] as ReturnType<typeof waitingProducer>).produce);
    expect((await post(busy.url)).status).toBe(200);
    busy.setProducer((p[1] as ReturnType<typeof waitingProducer>).produce);
    expect((await post(busy.url)).status).toBe(200);
    expect((await post(busy.url)).status).toBe(503);
  });

  it('counts stored bytes as the broker counts them, so the store drops a log before the broker trims one', async () => {
    const app = await instance();
    app.setProducer(async ({ send }) => {
      for (let i = 0; i < 10; i++) await send('x');
    });
    await (await post(app.url)).rest();
    // 10 one-byte events: far more than 10 bytes in the broker (its overhead, the id, the topics).
    expect(app.replies.metrics().storedBytes).toBeGreaterThanOrEqual(1024 + 10 * (1 + 128));
  });

  it('cannot make room without a broker that expires topics: 503 instead of growing', async () => {
    const { expire: _expire, ...bare } = createMemoryBroker();
    const app = await instance({ broker: bare, limits: { maxStoredBytes: 2048 } });
    app.setProducer(async () => {});
    await (await post(app.url)).rest();
    await (await post(app.url)).rest();
    expect((await post(app.url)).status).toBe(503);
  });
});
