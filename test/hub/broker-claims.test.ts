import { describe, expect, it } from 'vitest';
import { createClusterBroker, serveClusterBroker } from '../../src/adapters/node/index.js';
import { createMemoryBroker, historyEventBytes } from '../../src/hub/index.js';
import { channelPair } from '../helpers/ipc.js';

describe('memory broker claim()', () => {
  it('sets a name once: concurrent claims all resolve with the first value', async () => {
    const broker = createMemoryBroker();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => broker.claim?.('key', `reply-${i}`, 60_000)),
    );
    expect(new Set(results)).toEqual(new Set(['reply-0']));
  });

  it('forgets a claim after its ttl, and the oldest one past maxClaims', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ now: () => now, maxClaims: 2 });
    expect(await broker.claim?.('a', '1', 100)).toBe('1');
    now += 99;
    expect(await broker.claim?.('a', '2', 100)).toBe('1');
    now += 1;
    expect(await broker.claim?.('a', '3', 100)).toBe('3');
    await broker.claim?.('b', 'b', 10_000);
    await broker.claim?.('c', 'c', 10_000); // a is the oldest: forgotten
    expect(await broker.claim?.('a', '4', 10_000)).toBe('4');
    expect(await broker.claim?.('c', 'x', 10_000)).toBe('c');
  });

  it('frees expired claims at the sweep, so they do not push a live claim out past maxClaims', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ now: () => now, maxClaims: 2 });
    await broker.claim?.('live', '1', 60_000);
    await broker.claim?.('short', 's', 100);
    now += 1_000; // 'short' has expired, and the sweep is due
    await broker.claim?.('new', 'n', 60_000);
    expect(await broker.claim?.('live', '2', 60_000)).toBe('1');
  });

  it('after close(), claim() and expire() reject with a closed BrokerError', async () => {
    const broker = createMemoryBroker();
    await broker.close();
    await expect(broker.claim?.('a', '1', 1000)).rejects.toMatchObject({
      name: 'BrokerError',
      type: 'closed',
    });
    await expect(broker.expire?.(['a'], 1000)).rejects.toMatchObject({ name: 'BrokerError', type: 'closed' });
  });

  it("refuses a ttl that is not a positive integer of ms (the Redis broker's rule: PX takes integers)", async () => {
    const broker = createMemoryBroker();
    await expect(broker.claim?.('a', '1', 0)).rejects.toBeInstanceOf(RangeError);
    await expect(broker.claim?.('a', '1', 1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(broker.expire?.(['a'], -1)).rejects.toBeInstanceOf(RangeError);
    await expect(broker.claim?.('a', '1', Number.POSITIVE_INFINITY)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('memory broker expire()', () => {
  it('forgets topics after the ttl: their history is gone, and resumes from before are truncated', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ now: () => now });
    const first = await broker.publish(['log', 'other'], { data: 'a' });
    await broker.publish(['log'], { data: 'b' });
    await broker.expire?.(['log'], 50);
    now += 49;
    expect((await broker.history(['log'], '0-0')).events.map((e) => e.data)).toEqual(['a', 'b']);
    now += 1;
    const gone = await broker.history(['log'], first);
    expect(gone.events).toEqual([]);
    expect(gone.truncated).toBe(true);
    // Another topic of the same event keeps it.
    expect((await broker.history(['other'], '0-0')).events.map((e) => e.data)).toEqual(['a']);
    // Publishing again starts a new history, without the old expiry.
    await broker.publish(['log'], { data: 'c' });
    now += 10_000;
    expect((await broker.history(['log'], '0-0')).events.map((e) => e.data)).toEqual(['c']);
  });

  it('gives back the bytes of an expired topic nobody reads or publishes to again, at the next sweep', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ now: () => now });
    await broker.publish(['log'], { data: 'a' });
    await broker.expire?.(['log'], 50);
    now += 1_000; // past the expiry and the sweep's interval
    const id = await broker.publish(['other'], { data: 'b' }); // sweeps; 'log' is never asked for
    expect(broker.historyBytes()).toBe(historyEventBytes({ id, data: 'b', topics: ['other'] }));
  });

  it('keeps the history readable when the same topic is expired again, with a new ttl', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ now: () => now });
    await broker.publish(['log'], { data: 'a' });
    await broker.publish(['log'], { data: 'b' });
    await broker.expire?.(['log'], 50);
    await broker.expire?.(['log'], 500);
    now += 100; // past the first ttl, within the second
    expect((await broker.history(['log'], '0-0')).events.map((e) => e.data)).toEqual(['a', 'b']);
  });

  it('drops at once with ttl 0', async () => {
    const broker = createMemoryBroker();
    await broker.publish(['t'], { data: 'a' });
    await broker.expire?.(['t'], 0);
    expect((await broker.history(['t'], '0-0')).events).toEqual([]);
  });
});

describe('cluster broker claim() and expire()', () => {
  it("forwards to the primary's broker: one claim wins across workers, expire drops the topic", async () => {
    const broker = createMemoryBroker();
    const [p1, w1] = channelPair();
    const [p2, w2] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p1, p2] });
    const one = createClusterBroker({ channel: w1 });
    const two = createClusterBroker({ channel: w2 });
    const results = await Promise.all([
      one.claim?.('k', 'from-1', 60_000),
      two.claim?.('k', 'from-2', 60_000),
      one.claim?.('k', 'from-1b', 60_000),
    ]);
    expect(new Set(results).size).toBe(1);
    expect(['from-1', 'from-2', 'from-1b']).toContain(results[0]);
    await one.publish(['t'], { data: 'x' });
    await two.expire?.(['t'], 0);
    expect((await broker.history(['t'], '0-0')).events).toEqual([]);
    await server.close();
    await Promise.all([one.close(), two.close()]);
  });

  it('answers a claim with a BrokerError when the primary broker has none', async () => {
    const { claim: _claim, ...bare } = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(bare, { channels: [p] });
    const worker = createClusterBroker({ channel: w });
    await expect(worker.claim?.('k', 'v', 1000)).rejects.toMatchObject({
      name: 'BrokerError',
      type: 'claim-failed',
    });
    await server.close();
    await worker.close();
  });

  it('answers expire() with nothing when the primary broker has none', async () => {
    const { expire: _expire, ...bare } = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(bare, { channels: [p] });
    const worker = createClusterBroker({ channel: w });
    await expect(worker.expire?.(['t'], 0)).resolves.toBeUndefined();
    await server.close();
    await worker.close();
  });
});
