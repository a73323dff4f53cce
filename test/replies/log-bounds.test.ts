/**
 * A reply's log fits under what the broker keeps per topic (`Broker.topicLimits`): a full reply
 * is never trimmed (its open marker first, after which a replay from the start could only end
 * `expired`). Defaults are lowered to fit; explicit bounds that do not fit are refused.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBroker, historyEventBytes } from '../../src/hub/index.js';
import { createReplies } from '../../src/replies/index.js';
import { topicsOf } from '../../src/replies/log.js';
import { redisAvailable, redisBrokers } from '../helpers/redis.js';
import { get, instancesPerTest, post, tokens } from './helpers.js';

const available = await redisAvailable();
const redis = redisBrokers();
const instance = instancesPerTest();

/** Sends 100 tokens; returns what a GET from the start of the reply reads once it has ended. */
async function fullReplyFromStart(app: Awaited<ReturnType<typeof instance>>) {
  app.setProducer(async ({ send }) => {
    for (let i = 1; i <= 100; i++) if (!(await send(`t${i}`))) break;
  });
  const first = await post(app.url);
  await first.rest();
  return (await get(app.url, first.headers.get('content-location') as string)).rest();
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1}`);

describe('replies: the log fits the broker', () => {
  it('lowers a default maxEventsPerReply under the broker’s events per topic: a full reply replays whole from its start', async () => {
    const broker = createMemoryBroker({ history: { maxEvents: 40, maxAge: Number.POSITIVE_INFINITY } });
    const app = await instance({ broker });
    const events = await fullReplyFromStart(app);
    // 40 kept per topic, 16 of them room for the markers.
    expect(tokens(events)).toEqual(upTo(24));
    expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"too-large"}' });
  });

  it('lowers a default maxBytesPerReply under the broker’s bytes per topic: a full reply replays whole', async () => {
    const broker = createMemoryBroker({
      history: { maxEvents: 1000, maxBytes: 512 * 1024, maxAge: Number.POSITIVE_INFINITY },
    });
    const app = await instance({ broker });
    app.setProducer(async ({ send }) => {
      for (let i = 1; i <= 1000; i++) if (!(await send(`t${i} ${'x'.repeat(500)}`))) break;
    });
    const first = await post(app.url);
    const live = await first.rest();
    const events = await (await get(app.url, first.headers.get('content-location') as string)).rest();
    expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"too-large"}' });
    expect(events.map((e) => e.data)).toEqual(live.map((e) => e.data));
    // Ended by bytes, not by events (the default events bound is 984 here).
    expect(events.length).toBeGreaterThan(100);
    expect(events.length).toBeLessThan(984);
  });

  it('sizes its own memory broker for the bounds: a reply over the memory broker’s default 8 MiB per topic replays whole', async () => {
    // 9 events of 1 MiB: 9 MiB in all.
    const big = 'x'.repeat(1024 * 1024);
    const app = await instance({ limits: { maxBytesPerReply: 10 * 1024 * 1024 } });
    app.setProducer(async ({ send }) => {
      for (let i = 0; i < 9; i++) await send(big);
    });
    const first = await post(app.url);
    await first.rest();
    const events = await (await get(app.url, first.headers.get('content-location') as string)).rest();
    expect(events.map((e) => e.data.length)).toEqual([
      ...Array(9).fill(big.length),
      '{"reason":"done"}'.length,
    ]);
  });

  it('sizes its own memory broker above maxStoredBytes in all: past the broker’s default 64 MiB, the first reply still replays whole', async () => {
    // 8 replies of 9 MiB each: 72 MiB kept, within maxStoredBytes, over the broker's default
    // 64 MiB across topics (which would trim the first reply's log).
    const big = 'x'.repeat(1024 * 1024);
    const app = await instance({
      limits: { maxBytesPerReply: 10 * 1024 * 1024, maxStoredBytes: 256 * 1024 * 1024 },
    });
    app.setProducer(async ({ send }) => {
      for (let i = 0; i < 9; i++) await send(big);
    });
    const locations: string[] = [];
    for (let r = 0; r < 8; r++) {
      const stream = await post(app.url);
      locations.push(stream.headers.get('content-location') as string);
      await stream.rest();
    }
    const events = await (await get(app.url, locations[0] as string)).rest();
    expect(events.map((e) => e.data.length)).toEqual([
      ...Array(9).fill(big.length),
      '{"reason":"done"}'.length,
    ]);
  });

  it('refuses explicit bounds the broker would trim (RangeError), and takes those that fit', () => {
    const broker = createMemoryBroker({
      history: { maxEvents: 40, maxBytes: 64 * 1024, maxAge: Number.POSITIVE_INFINITY },
    });
    expect(() => createReplies({ broker, limits: { maxEventsPerReply: 25 } })).toThrow(RangeError);
    expect(() => createReplies({ broker, limits: { maxBytesPerReply: 64 * 1024 } })).toThrow(RangeError);
    expect(() =>
      createReplies({ broker, limits: { maxEventsPerReply: 24, maxBytesPerReply: 1024 } }),
    ).not.toThrow();
  });

  it.skipIf(!available)(
    'on Redis: lowers a default maxEventsPerReply under maxLen, so a full reply replays whole',
    async () => {
      const broker = redis.broker(redis.freshPrefix('log-bounds'), { maxLen: 40 });
      await broker.ready();
      const app = await instance({ broker, onError: () => {} });
      const events = await fullReplyFromStart(app);
      expect(tokens(events)).toEqual(upTo(24));
      expect(events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"too-large"}' });
    },
  );
});

describe('replies: what the in-memory broker counts for a log', () => {
  it('counts each event as historyEventBytes says, multi-byte text and event types included (a reply hands it the sizes it measured)', async () => {
    const broker = createMemoryBroker();
    const app = await instance({ broker });
    app.setProducer(async ({ send }) => {
      await send('héllo 中文 😀');
      await send({ event: 'note', data: 'ü' });
      await send('t');
    });
    const first = await post(app.url);
    await first.rest();
    const id = (first.headers.get('content-location') as string).split('/').pop() as string;
    const topics = topicsOf('reply/', id);
    // The reply ended: its topics are packed (to be forgotten after the retention), each with
    // its own copy of an event it shares with another (the open marker and the end are in the
    // log and the control topic), counted with each.
    let sum = 0;
    const data: string[] = [];
    for (const topic of [topics.log, topics.control, topics.alive]) {
      for (const event of (await broker.history([topic], '0-0')).events) {
        sum += historyEventBytes(event);
        data.push(event.data);
      }
    }
    expect(data).toContain('héllo 中文 😀');
    expect(broker.historyBytes()).toBe(sum);
  });
});
