import { afterEach, describe, expect, it } from 'vitest';
import { createClusterBroker, serveClusterBroker } from '../../src/adapters/node/index.js';
import { createMemoryBroker } from '../../src/hub/index.js';
import { channelPair } from '../helpers/ipc.js';
import {
  get,
  type Instance,
  post,
  request,
  serve,
  steppedProducer,
  tokens,
  waitingProducer,
} from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Two workers' replies on the primary's memory broker, each through its own IPC channel. */
async function workers(): Promise<[Instance, Instance]> {
  const [p1, w1] = channelPair();
  const [p2, w2] = channelPair();
  const server = serveClusterBroker(createMemoryBroker(), { channels: [p1, p2] });
  const a = await serve({ broker: createClusterBroker({ channel: w1 }), stopTimeout: 60_000 });
  const b = await serve({ broker: createClusterBroker({ channel: w2 }), stopTimeout: 60_000 });
  cleanups.push(() => server.close(), a.close, b.close);
  return [a, b];
}

describe('replies on the cluster broker (workers of one machine)', () => {
  it('resumes on one worker a reply another runs, and stops it from there', async () => {
    const [a, b] = await workers();
    const p = steppedProducer(4);
    a.setProducer(p.produce);
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    const [t1] = await started.take(1);
    started.disconnect();
    p.step(1);
    const resumed = await get(b.url, location, t1?.id);
    await resumed.take(1);
    p.step(2);
    await resumed.take(2);
    expect(tokens(resumed.events)).toEqual(['t2', 't3']);
    expect((await request(new URL(location, b.url).href, { method: 'DELETE' })).status).toBe(204);
    expect(p.state).toMatchObject({ runs: 1, finallyRan: 1, aborted: true });
    expect((await resumed.rest()).at(-1)?.data).toBe('{"reason":"stopped"}');
  });

  it('joins POSTs with one Idempotency-Key on both workers to one producer (the primary claims)', async () => {
    const [a, b] = await workers();
    const p = waitingProducer(2);
    a.setProducer(p.produce);
    b.setProducer(p.produce);
    const headers = { 'idempotency-key': 'cluster-key' };
    const streams = await Promise.all(
      Array.from({ length: 6 }, (_, i) => post(i % 2 ? a.url : b.url, headers)),
    );
    p.release();
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(['t1', 't2', 'last']);
    expect(p.state.runs).toBe(1);
  });
});
