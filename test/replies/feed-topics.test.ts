/**
 * What the replies' one feed follows on the broker (each followed topic costs: on Redis, a
 * subscription, and a read and a notification for every event): the producer's instance
 * follows the control topic only (its readers get the log's events from the run as they land),
 * and a reader elsewhere the log and the alive topic.
 */
import { describe, expect, it, vi } from 'vitest';
import { type Broker, createMemoryBroker } from '../../src/hub/index.js';
import { createReplies, type Produce } from '../../src/replies/index.js';
import { get, instancesPerTest, post, waitingProducer } from './helpers.js';

const instance = instancesPerTest();

/** A broker shared by instances, recording the topics its feeds are asked to follow. */
function recording() {
  const inner = createMemoryBroker();
  const followed: string[] = [];
  const broker: Broker = {
    ...inner,
    subscribe(listener) {
      const feed = inner.subscribe(listener);
      return {
        ...feed,
        follow(topics) {
          followed.push(...topics);
          return feed.follow(topics);
        },
      };
    },
  };
  return { broker, followed };
}

const kinds = (topics: readonly string[]) => topics.map((t) => t.replace(/^reply\/[\w-]{22}/, '')).sort();

describe('replies: the topics a reply costs the feed', () => {
  it('reads a reply where it runs following neither its log nor its alive topic, and follows both from another instance', async () => {
    const { broker, followed } = recording();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker });
    const started = await post(a.url);
    await started.take(1);
    expect(kinds(followed)).toEqual(['/control']);
    followed.length = 0;
    const elsewhere = await get(b.url, started.headers.get('content-location') as string);
    await elsewhere.take(1);
    expect(kinds(followed)).toEqual(['', '/alive']);
    p.release();
    await Promise.all([started.rest(), elsewhere.rest()]);
  });

  it('a reconnect where the reply runs, after its reader left, follows nothing new', async () => {
    const { broker, followed } = recording();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const started = await post(a.url);
    const [first] = await started.take(1);
    started.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 50));
    followed.length = 0;
    const again = await get(a.url, started.headers.get('content-location') as string, first?.id);
    p.release();
    const events = await again.rest();
    expect(events.at(-1)?.event).toBe('end');
    expect(followed).toEqual([]);
  });

  it('an end written by another instance while the producer runs here reaches the readers here in their response, and stops the producer: its signal aborts with that reason', async () => {
    const { broker } = recording();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const started = await post(a.url);
    await started.take(1);
    const id = (started.headers.get('content-location') as string).split('/').pop() as string;
    // What an instance that found the producer lost writes: the end, to the log and the control topic.
    const end = { event: 'end', data: '{"reason":"producer-lost"}' };
    await broker.publish([`reply/${id}`, `reply/${id}/control`], end);
    const events = await started.rest();
    expect(events.at(-1)).toMatchObject(end);
    expect(started.retries).toEqual([]);
    // The producer was only cut off: it learns that another instance gave up on it, and stops.
    await vi.waitFor(() => expect(p.state.finallyRan).toBe(1));
    expect(p.state.signal?.aborted).toBe(true);
    expect(p.state.reason).toMatchObject({ name: 'ReplyStoppedError', reason: 'producer-lost' });
    expect(a.replies.metrics().running).toBe(0);
  });
  it('tells onError when the feed fails to let go of a topic, but not once close() has begun', async () => {
    const inner = createMemoryBroker();
    const failure = new Error('unfollow failed');
    const broker: Broker = {
      ...inner,
      subscribe(listener) {
        const feed = inner.subscribe(listener);
        return { ...feed, unfollow: () => Promise.reject(failure) };
      },
    };
    const errors: unknown[] = [];
    const replies = createReplies({ broker, heartbeat: false, onError: (e) => errors.push(e) });
    const start = async (produce: Produce) => {
      const response = await replies.start(new Request('http://x/chat', { method: 'POST' }), produce);
      await response.body?.cancel();
    };
    // A reply that ends lets go of its control topic: the failure is reported.
    await start(async ({ send }) => void (await send('x')));
    await vi.waitFor(() => expect(errors).toEqual([failure]));
    // One that the shutdown ends: not reported (the broker may be going away too).
    const p = waitingProducer(1);
    await start(p.produce);
    await replies.close({ timeout: 0 });
    expect(p.state.finallyRan).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors).toEqual([failure]);
  });
});
