import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createClusterBroker, type IpcChannel, serveClusterBroker } from '../../src/adapters/node/index.js';
import {
  type Broker,
  type BrokerEvent,
  type BrokerListener,
  createHub,
  createMemoryBroker,
  type Hub,
  isBrokerError,
} from '../../src/hub/index.js';
import { channelPair } from '../helpers/ipc.js';
import { readEvents, readUntil } from './helpers.js';

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close({ timeout: 100 })));
});

describe('cluster broker', () => {
  it('shares ids, history and live events between workers; a client resumes on another worker', async () => {
    const broker = createMemoryBroker();
    const [p1, w1] = channelPair();
    const [p2, w2] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p1, p2] });
    const hub1 = createHub({ heartbeat: false, broker: createClusterBroker({ channel: w1 }) });
    const hub2 = createHub({ heartbeat: false, broker: createClusterBroker({ channel: w2 }) });
    hubs.push(hub1, hub2);

    const on2 = await hub2.subscribe({ topics: ['t'] });
    const first = await hub1.publish('t', 'from worker 1');
    const second = await hub2.publish(['t', 'u'], 'from worker 2');
    const third = await hub1.publish('t', 'third');
    expect(
      [first, second, third].every(
        (id, i, all) => i === 0 || broker.compareIds(all[i - 1] as string, id) < 0,
      ),
    ).toBe(true);
    const live = await readEvents(on2, 3);
    expect(live.events.map((e) => e.id)).toEqual([first, second, third]);

    // A client that saw `first` on worker 2 reconnects to worker 1.
    const resumed = await hub1.subscribe({ topics: ['t'], lastEventId: first });
    const fourth = await hub2.publish('t', 'fourth');
    const events = await readUntil(resumed, (e) => e.id === fourth);
    expect(events.map((e) => e.id)).toEqual([second, third, fourth]);
    await server.close();
  });

  it('fails calls with a BrokerError when the primary does not answer within timeout (a positive integer of ms)', async () => {
    const [, w] = channelPair(); // nobody serves the other end
    expect(() => createClusterBroker({ channel: w, timeout: 0 })).toThrow(
      'timeout must be a positive integer',
    );
    const broker = createClusterBroker({ channel: w, timeout: 20 });
    await expect(broker.publish(['t'], { data: 'x' })).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'publish-failed',
    );
    await broker.close();
    await expect(broker.history(['t'], '0-0')).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'closed',
    );
  });

  it('reports errors of the primary broker to the worker as BrokerErrors', async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const proxy = createClusterBroker({ channel: w });
    await broker.close();
    await expect(proxy.publish(['t'], { data: 'x' })).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'publish-failed',
    );
    await server.close();
    await proxy.close();
  });

  it('serves a channel once: add() of one served already changes nothing', async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    server.add(p);
    const proxy = createClusterBroker({ channel: w });
    const events: BrokerEvent[] = [];
    const feed = proxy.subscribe({ onEvent: (e) => events.push(e), onError: () => {} });
    await feed.follow(['t']);
    const id = await proxy.publish(['t'], { data: 'once' });
    await settle();
    expect(events.map((e) => e.id)).toEqual([id]);
    await server.close();
    await proxy.close();
  });

  it("a failure of the primary's feed reaches the worker's listeners as a BrokerError", async () => {
    const memory = createMemoryBroker();
    let primaryListener: BrokerListener | undefined;
    const broker: Broker = {
      ...memory,
      subscribe(listener) {
        primaryListener = listener;
        return memory.subscribe(listener);
      },
    };
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const proxy = createClusterBroker({ channel: w });
    const errors: unknown[] = [];
    proxy.subscribe({ onEvent: () => {}, onError: (error) => errors.push(error) });
    primaryListener?.onError(new Error('connection lost'));
    await settle();
    expect(errors).toHaveLength(1);
    expect(isBrokerError(errors[0]) && errors[0].type === 'feed-failed').toBe(true);
    expect((errors[0] as Error).message).toContain('connection lost');
    await server.close();
    await proxy.close();
  });

  it("close() stops serving: no more events for the worker's feed, no more answers", async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const proxy = createClusterBroker({ channel: w, timeout: 50 });
    const events: BrokerEvent[] = [];
    const feed = proxy.subscribe({ onEvent: (e) => events.push(e), onError: () => {} });
    await feed.follow(['t']);
    await server.close();
    await broker.publish(['t'], { data: 'after close' });
    await settle();
    expect(events).toEqual([]);
    await expect(proxy.publish(['t'], { data: 'x' })).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'publish-failed',
    );
    await proxy.close();
  });

  it('close() of the worker side fails the calls still waiting for an answer, at once', async () => {
    const [, w] = channelPair(); // nobody answers
    const proxy = createClusterBroker({ channel: w, timeout: 10_000 });
    const waiting = proxy.publish(['t'], { data: 'x' });
    const started = performance.now();
    await proxy.close();
    // The call's own failure, caused by the close.
    await expect(waiting).rejects.toSatisfy(
      (e) => isBrokerError(e) && isBrokerError(e.cause) && e.cause.type === 'closed',
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("a feed's close() stops its listener, not the others", async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const proxy = createClusterBroker({ channel: w });
    const one: BrokerEvent[] = [];
    const two: BrokerEvent[] = [];
    const feed1 = proxy.subscribe({ onEvent: (e) => one.push(e), onError: () => {} });
    proxy.subscribe({ onEvent: (e) => two.push(e), onError: () => {} });
    await feed1.follow(['t']);
    const first = await broker.publish(['t'], { data: '1' });
    await settle();
    await feed1.close();
    const second = await broker.publish(['t'], { data: '2' });
    await settle();
    expect(one.map((e) => e.id)).toEqual([first]);
    expect(two.map((e) => e.id)).toEqual([first, second]);
    await server.close();
    await proxy.close();
  });

  it('in cluster mode, serves workers as they fork and stops serving one when it exits', async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker);
    try {
      // The primary's view of a worker is its channel: the test plays the fork and the exit.
      cluster.emit('fork', p);
      const proxy = createClusterBroker({ channel: w, timeout: 50 });
      await expect(proxy.publish(['t'], { data: 'served' })).resolves.toBeTypeOf('string');
      cluster.emit('exit', p);
      await expect(proxy.publish(['t'], { data: 'gone' })).rejects.toSatisfy(
        (e) => isBrokerError(e) && e.type === 'publish-failed',
      );
      await proxy.close();
    } finally {
      await server.close();
    }
  });

  it("unfollow stops the topic's events reaching the worker's feed", async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const proxy = createClusterBroker({ channel: w });
    const events: BrokerEvent[] = [];
    const feed = proxy.subscribe({ onEvent: (e) => events.push(e), onError: () => {} });
    await feed.follow(['t', 'u']);
    await feed.unfollow(['t']);
    await broker.publish(['t'], { data: 'unfollowed' });
    const kept = await broker.publish(['u'], { data: 'still followed' });
    await settle();
    expect(events.map((e) => e.id)).toEqual([kept]);
    await server.close();
    await proxy.close();
  });

  it('the primary answers an unknown operation with an error and ignores messages not its own', async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const server = serveClusterBroker(broker, { channels: [p] });
    const received: unknown[] = [];
    w.on('message', (m) => received.push(m));
    // Another library's IPC traffic on the same channel: no answer, no crash.
    for (const foreign of [
      null,
      'hello',
      { type: 'other' },
      { 'ssekit:broker': 'reply', seq: 1, ok: true },
    ]) {
      w.send(foreign);
    }
    w.send({ 'ssekit:broker': 'call', seq: 7, op: 'drop-everything', args: [] });
    await settle();
    expect(received).toEqual([
      {
        'ssekit:broker': 'reply',
        seq: 7,
        ok: false,
        error: 'Error: unknown broker operation drop-everything',
      },
    ]);
    await server.close();
  });

  it('the worker ignores messages not its own, and a late answer to a call that timed out', async () => {
    const port = new EventEmitter();
    const sent: { seq: number }[] = [];
    const channel: IpcChannel = {
      send: (m) => sent.push(m as { seq: number }),
      on: (event, listener) => port.on(event, listener),
      off: (event, listener) => port.off(event, listener),
    };
    const proxy = createClusterBroker({ channel, timeout: 20 });
    for (const foreign of [null, 'hello', { type: 'other' }]) {
      expect(() => port.emit('message', foreign)).not.toThrow();
    }
    await expect(proxy.publish(['t'], { data: 'x' })).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'publish-failed',
    );
    const late = { 'ssekit:broker': 'reply', seq: sent[0]?.seq, ok: true, value: '1-0' };
    expect(() => port.emit('message', late)).not.toThrow();
    // Still working: the next call gets its own answer.
    const next = proxy.publish(['t'], { data: 'y' });
    port.emit('message', { 'ssekit:broker': 'reply', seq: sent[1]?.seq, ok: true, value: '2-0' });
    await expect(next).resolves.toBe('2-0');
    await proxy.close();
  });

  it('a call the channel refuses to send fails at once with the cause, not after the timeout', async () => {
    const refused = new Error('channel closed');
    const channel: IpcChannel = {
      send: () => {
        throw refused;
      },
      on: () => {},
      off: () => {},
    };
    const proxy = createClusterBroker({ channel, timeout: 10_000 });
    const started = performance.now();
    await expect(proxy.publish(['t'], { data: 'x' })).rejects.toSatisfy(
      (e) => isBrokerError(e) && e.type === 'publish-failed' && e.cause === refused,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    await proxy.close();
  });

  it('needs a channel that can send: outside a worker (no process.send) it throws a TypeError', () => {
    const channel = { on: () => {}, off: () => {} } as unknown as IpcChannel;
    expect(() => createClusterBroker({ channel })).toThrow(TypeError);
    expect(() => createClusterBroker({ channel })).toThrow('createClusterBroker needs an IPC channel');
  });

  it('in cluster mode, also serves the workers forked before it, and ignores the exit of one it never served', async () => {
    const broker = createMemoryBroker();
    const [p, w] = channelPair();
    const workers = cluster.workers as Record<string, unknown>;
    workers['ssekit-test'] = p;
    let server: ReturnType<typeof serveClusterBroker>;
    try {
      server = serveClusterBroker(broker);
    } finally {
      delete workers['ssekit-test'];
    }
    try {
      const proxy = createClusterBroker({ channel: w, timeout: 50 });
      await expect(proxy.publish(['t'], { data: 'served' })).resolves.toBeTypeOf('string');
      const [stranger] = channelPair();
      expect(() => cluster.emit('exit', stranger)).not.toThrow();
      await proxy.close();
    } finally {
      await server.close();
    }
  });
});

/** Lets the IPC stand-in (setImmediate per message) deliver what is in flight. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
