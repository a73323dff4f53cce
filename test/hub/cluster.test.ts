import { afterEach, describe, expect, it } from 'vitest';
import { createClusterBroker, serveClusterBroker } from '../../src/adapters/node/index.js';
import { createHub, createMemoryBroker, type Hub, isBrokerError } from '../../src/hub/index.js';
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
});
