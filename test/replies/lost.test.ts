import { describe, expect, it } from 'vitest';
import {
  get,
  type Instance,
  instancesPerTest,
  killable,
  post,
  sharedBroker,
  tokens,
  waitingProducer,
} from './helpers.js';

const instance = instancesPerTest();

const LOST = JSON.stringify({ reason: 'producer-lost' });
// Short leases, so the test takes a fraction of a second.
const LEASE = { producerHeartbeat: 20, producerLostAfter: 200 };

/** Instance A runs a silent producer on a broker it can lose; instance B reads. */
async function twoInstances(bFirst = false) {
  const shared = sharedBroker();
  const dead = killable(shared);
  const p = waitingProducer(1);
  let b: Instance | undefined;
  // B's timers first when asked: after a blocked event loop they fire before A's heartbeat.
  if (bFirst) b = await instance({ broker: shared, ...LEASE });
  const a = await instance({ broker: dead.broker, produce: p.produce, onError: () => {}, ...LEASE });
  b ??= await instance({ broker: shared, ...LEASE });
  return { a, b, p, kill: dead.kill };
}

describe('replies: a lost producer', () => {
  it('ends the readers on other instances with end {producer-lost} when the producing instance goes silent', async () => {
    const { a, b, p, kill } = await twoInstances();
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const reader = await get(b.url, location);
    await reader.take(1);
    // Silent for many leases, yet heartbeating: not lost.
    await new Promise((resolve) => setTimeout(resolve, 3 * LEASE.producerLostAfter));
    expect(reader.ended).toBe(false);
    kill();
    const events = await reader.rest();
    expect(tokens(events)).toEqual(['t1']);
    expect(events.at(-1)).toMatchObject({ event: 'end', data: LOST });
    expect(b.replies.metrics().ended['producer-lost']).toBe(1);
    // The end is in the log: later readers get it at once, and its id answers 204.
    const later = await get(b.url, location);
    const replayed = await later.rest();
    expect(replayed.at(-1)?.data).toBe(LOST);
    expect((await get(b.url, location, replayed.at(-1)?.id)).status).toBe(204);
    expect(p.state.finallyRan).toBe(0);
  });

  it('settles a GET that starts after the producer died: no resume hangs', async () => {
    const { a, b, kill } = await twoInstances();
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    const [first] = await started.take(1);
    kill();
    const reader = await get(b.url, location, first?.id);
    expect(reader.status).toBe(200);
    expect((await reader.rest()).map((e) => e.data)).toEqual([LOST]);
  });

  it('does not give up on a producer because this event loop was blocked', async () => {
    const { a, b, p } = await twoInstances(true);
    const started = await post(a.url);
    const location = started.headers.get('content-location') as string;
    await started.take(1);
    const reader = await get(b.url, location);
    await reader.take(1);
    // A long synchronous task: no timer, no socket ran for 5 leases.
    const until = Date.now() + 5 * LEASE.producerLostAfter;
    while (Date.now() < until) {
      // busy
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    p.release();
    const events = await reader.rest();
    expect(tokens(events)).toEqual(['t1', 'last']);
    expect(events.at(-1)?.data).toBe('{"reason":"done"}');
  });
});
