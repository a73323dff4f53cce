/**
 * What the replies' one feed follows on the broker (each followed topic costs: on Redis, a
 * stream in every read of the feed): the producer's instance follows the control topic, and
 * a reader the log, plus the alive topic only where the producer runs elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { type Broker, createMemoryBroker } from '../../src/hub/index.js';
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
  it('reads a reply where it runs without following its alive topic, and follows it from another instance', async () => {
    const { broker, followed } = recording();
    const p = waitingProducer(1);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker });
    const started = await post(a.url);
    await started.take(1);
    expect(kinds(followed)).toEqual(['', '/control']);
    followed.length = 0;
    const elsewhere = await get(b.url, started.headers.get('content-location') as string);
    await elsewhere.take(1);
    expect(kinds(followed)).toContain('/alive');
    p.release();
    await Promise.all([started.rest(), elsewhere.rest()]);
  });

  it('keeps following the log of a reply running here while nobody reads it: a reconnect here follows nothing new', async () => {
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
});
