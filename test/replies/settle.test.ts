/**
 * No resume ever hangs: a GET of a reply's URL, in every state a reply can be in, from its start,
 * from one of its ids and from its end's id, settles with events and an `end`, a `204`, a `404`
 * or a `400`. Each answer is awaited with a bound: a hang fails with a message.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBroker } from '../../src/hub/index.js';
import {
  get,
  type Instance,
  instancesPerTest,
  killable,
  post,
  request,
  type Stream,
  settles,
  sharedBroker,
  waitingProducer,
} from './helpers.js';

const instance = instancesPerTest();

/**
 * How a GET settled: `end:<reason>` (200, events, then the end), `retry` (200 cut with a retry
 * hint), or the status. Throws when a 200 closes with neither: a stream that stops mid-reply.
 */
async function outcome(app: Instance, location: string, lastEventId?: string): Promise<string> {
  const what = `GET ${location}${lastEventId === undefined ? '' : ` after ${lastEventId}`}`;
  const stream: Stream = await settles(get(app.url, location, lastEventId), what);
  if (stream.status !== 200) {
    await stream.rest();
    return String(stream.status);
  }
  const events = await settles(stream.rest(), what);
  const last = events.at(-1);
  if (last?.event === 'end') return `end:${(JSON.parse(last.data) as { reason: string }).reason}`;
  if (stream.retries.length > 0) return 'retry';
  throw new Error(`${what}: a 200 that ended with neither an end event nor a retry hint`);
}

/** The outcomes from the start, after the first token, and after the end (when it has one). */
async function outcomes(app: Instance, location: string): Promise<string[]> {
  const all = await (await get(app.url, location)).rest();
  const first = all[0]?.id;
  const end = all.find((e) => e.event === 'end')?.id;
  return [
    await outcome(app, location),
    first === undefined || first === end ? 'no token' : await outcome(app, location, first),
    end === undefined ? 'no end' : await outcome(app, location, end),
  ];
}

/** POSTs and reads the reply to its end; its URL. */
async function finished(app: Instance): Promise<string> {
  const stream = await post(app.url);
  await settles(stream.rest(), 'the POST');
  return stream.headers.get('content-location') as string;
}

describe('replies: no resume ever hangs', () => {
  it('running: the GETs follow the reply live and settle at its end', async () => {
    const p = waitingProducer(1);
    const app = await instance({ produce: p.produce });
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    const [first] = await started.take(1);
    const pending = [outcome(app, location), outcome(app, location, first?.id)];
    p.release();
    expect(await Promise.all(pending)).toEqual(['end:done', 'end:done']);
  });

  it('ended: done, failed, too-large, stopped', async () => {
    const app = await instance({ limits: { maxEventsPerReply: 2 } });
    app.setProducer(async ({ send }) => void (await send('x')));
    expect(await outcomes(app, await finished(app))).toEqual(['end:done', 'end:done', '204']);

    const failing = await instance({ onError: () => {} });
    failing.setProducer(async ({ send }) => {
      await send('x');
      throw new Error('the model failed');
    });
    expect(await outcomes(failing, await finished(failing))).toEqual(['end:failed', 'end:failed', '204']);

    app.setProducer(async ({ send }) => {
      for (let i = 0; i < 5; i++) await send(`t${i}`);
    });
    expect(await outcomes(app, await finished(app))).toEqual(['end:too-large', 'end:too-large', '204']);

    const p = waitingProducer(1);
    app.setProducer(p.produce);
    const started = await post(app.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    expect((await request(new URL(location, app.url).href, { method: 'DELETE' })).status).toBe(204);
    expect(await outcomes(app, location)).toEqual(['end:stopped', 'end:stopped', '204']);
  });

  it('producer-lost, on another instance, also for a GET that comes after', async () => {
    const shared = sharedBroker();
    const dead = killable(shared);
    const lease = { producerHeartbeat: 20, producerLostAfter: 200 };
    const p = waitingProducer(1);
    const a = await instance({ broker: dead.broker, produce: p.produce, onError: () => {}, ...lease });
    const b = await instance({ broker: shared, ...lease });
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    const [first] = await started.take(1);
    // A GET open while the producer's instance dies, and one that starts only after.
    const during = outcome(b, location, first?.id);
    dead.kill();
    expect(await during).toBe('end:producer-lost');
    expect(await outcomes(b, location)).toEqual(['end:producer-lost', 'end:producer-lost', '204']);
  });

  it('shutdown of the producing instance, read on another one', async () => {
    const broker = sharedBroker();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker });
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const during = outcome(b, location);
    await a.replies.close({ timeout: 0 });
    expect(await during).toBe('end:shutdown');
    expect(await outcomes(b, location)).toEqual(['end:shutdown', 'end:shutdown', '204']);
  });

  it('the broker refuses the reply mid-way: the readers where it runs are cut with a retry hint (they resume elsewhere)', async () => {
    const dead = killable(sharedBroker());
    const p = waitingProducer(1);
    const app = await instance({
      broker: dead.broker,
      produce: p.produce,
      onError: () => {},
      retry: 250,
      producerLostAfter: 60_000,
    });
    const stream = await post(app.url);
    const [first] = await stream.take(1);
    dead.kill();
    // Its next send cannot be stored, nor can the end: the reply fails where it runs.
    p.release();
    const events = await settles(stream.rest(), 'the reader of a reply its broker refused', 2000);
    expect(events.map((e) => e.data)).toEqual(['t1']);
    expect(stream.retries).toEqual([250]);
    expect(stream.lastEventId).toBe(first?.id);
    expect(app.replies.metrics()).toMatchObject({ running: 0, readers: 0, ended: { failed: 1 } });
  });

  it('a log trimmed by its broker: end {expired}, sent and not stored', async () => {
    // A broker that keeps 5 events per topic and does not say so (no topicLimits, which
    // createReplies would refuse to fit under): the log loses its start.
    const broker = {
      ...createMemoryBroker({ history: { maxEvents: 5, maxAge: Number.POSITIVE_INFINITY } }),
      topicLimits: undefined,
    };
    const app = await instance({ broker });
    app.setProducer(async ({ send }) => {
      for (let i = 0; i < 20; i++) await send(`t${i}`);
    });
    const location = await finished(app);
    expect(await outcome(app, location)).toBe('end:expired');
  });

  it('expired (past retention), unknown, a malformed id: 404; a malformed or never assigned Last-Event-ID: 400', async () => {
    const app = await instance({ limits: { retention: 100 } });
    app.setProducer(async ({ send }) => void (await send('x')));
    const location = await finished(app);
    expect(await outcome(app, location, '9999999999999-0')).toBe('400');
    expect(await outcome(app, location, 'not an id')).toBe('400');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await outcome(app, location)).toBe('404');
    expect(await outcome(app, location, '1-0')).toBe('404');
    expect(await outcome(app, '/replies/AAAAAAAAAAAAAAAAAAAAAA')).toBe('404');
    expect(await outcome(app, '/replies/AAAAAAAAAAAAAAAAAAAAAA', '1-0')).toBe('404');
    expect(await outcome(app, '/replies/not-an-id')).toBe('404');
  });
});
