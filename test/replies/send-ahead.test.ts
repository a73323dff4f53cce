/**
 * How a producer's sends reach the broker (run.ts): taken at once up to SEND_AHEAD_BYTES, one
 * batch in flight at a time (ids in send order), what is sent meanwhile gathered into the next
 * batch, and a batch the broker refused ends the reply as failed with nothing after it stored.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { PUBLISH_NOW } from '../../src/hub/broker.js';
import {
  type Broker,
  type BrokerEvent,
  type BrokerEventInit,
  createMemoryBroker,
} from '../../src/hub/index.js';
import { SEND_AHEAD_BYTES } from '../../src/replies/run.js';
import { deferred, instancesPerTest, post, settles, tokens } from './helpers.js';

const instance = instancesPerTest();

/** A memory broker whose log publishes wait for `release()` (or fail with `fail()`), recorded by turn. */
function gatedBroker() {
  const inner = createMemoryBroker();
  let gate = deferred();
  let failing = false;
  const turns: string[][] = [];
  let turn: string[] | null = null;
  const broker: Broker = {
    ...inner,
    async publish(topics: readonly string[], init: BrokerEventInit) {
      // Only the producer's events (data 't…') wait; markers and the end go through.
      if (!init.data.startsWith('t')) return inner.publish(topics, init);
      if (turn === null) {
        turn = [];
        turns.push(turn);
        setImmediate(() => {
          turn = null;
        });
      }
      turn.push(init.data);
      await gate.promise;
      if (failing) throw new Error('the broker is down');
      return inner.publish(topics, init);
    },
  };
  onTestFinished(() => {
    // Whatever the test left waiting lands, so its replies can close.
    gate.resolve();
  });
  return {
    broker,
    turns,
    release() {
      gate.resolve();
      gate = deferred();
    },
    fail() {
      failing = true;
      gate.resolve();
    },
  };
}

describe('replies: sends on their way to the broker', () => {
  it('takes sends at once while the broker is slow: the sends of one turn go as one batch, and what comes while it is on its way goes as the next, in order', async () => {
    const g = gatedBroker();
    const taken: boolean[] = [];
    const allTaken = deferred();
    const app = await instance({
      broker: g.broker,
      produce: async ({ send }) => {
        // A burst (one upstream read carrying five tokens), then one token a turn.
        for (let i = 0; i < 5; i++) taken.push(await send(`t${i}`));
        for (let i = 5; i < 20; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          taken.push(await send(`t${i}`));
        }
        allTaken.resolve();
      },
    });
    const stream = await post(app.url);
    // Twenty sends awaited one after another, none stored yet: all taken.
    await settles(allTaken.promise, 'twenty sends taken');
    expect(taken).toEqual(Array(20).fill(true));
    // The burst went as one batch; the later sends wait for it, to go together.
    expect(g.turns).toEqual([['t0', 't1', 't2', 't3', 't4']]);
    for (let n = 0; n < 20 && g.turns.flat().length < 20; n++) {
      g.release();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    g.release();
    await settles(stream.rest(), 'the reply');
    expect(g.turns.flat()).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`));
    // A batch per turn of the broker, not a publish round per send.
    expect(g.turns.length).toBeLessThan(5);
    expect(tokens(stream.events)).toEqual(Array.from({ length: 20 }, (_, i) => `t${i}`));
  });

  it('past SEND_AHEAD_BYTES on their way, send waits until the broker has them', async () => {
    const g = gatedBroker();
    const big = `t${'x'.repeat(64 * 1024)}`;
    // Taken at once while what is on its way stays within the bound.
    const n = Math.floor(SEND_AHEAD_BYTES / big.length) + 1;
    let resolved = 0;
    const app = await instance({
      broker: g.broker,
      produce: async ({ send }) => {
        for (let i = 0; i < n + 2; i++) {
          await send(big);
          resolved++;
        }
      },
    });
    const stream = await post(app.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Held at the bound: the sends up to it were taken, the one past it waits.
    expect(resolved).toBe(n - 1);
    g.release();
    g.release();
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      g.release();
    }
    await settles(stream.rest(), 'the reply');
    expect(resolved).toBe(n + 2);
  });

  it('a batch the broker refuses ends the reply as failed, even when the producer finished, and nothing after it is stored', async () => {
    const g = gatedBroker();
    const app = await instance({
      broker: g.broker,
      onError: () => {},
      produce: async ({ send }) => {
        for (let i = 0; i < 5; i++) await send(`t${i}`);
      },
    });
    const stream = await post(app.url);
    await new Promise((resolve) => setTimeout(resolve, 20));
    g.fail();
    await settles(stream.rest(), 'the reply');
    expect(tokens(stream.events)).toEqual([]);
    expect(stream.events.at(-1)).toMatchObject({ event: 'end', data: '{"reason":"failed"}' });
    expect(app.replies.metrics().ended).toMatchObject({ done: 0, failed: 1 });
  });

  it('on the in-memory broker itself, events and markers go in at once, through its synchronous publish, and none waits', async () => {
    const inner = createMemoryBroker();
    const offered = (inner as unknown as Record<symbol, { now: (...a: never[]) => BrokerEvent }>)[
      PUBLISH_NOW
    ];
    const direct: string[] = [];
    // The same broker, its synchronous publish counted.
    const broker: Broker = Object.create(inner);
    Object.defineProperty(broker, PUBLISH_NOW, {
      value: {
        publish: inner.publish,
        now: (topics: readonly string[], init: BrokerEventInit) => {
          direct.push(init.data);
          return offered?.now(topics as never, init as never) as BrokerEvent;
        },
      },
    });
    const taken: boolean[] = [];
    const app = await instance({
      broker,
      produce: async ({ send }) => {
        for (let i = 0; i < 5; i++) taken.push(await send(`t${i}`));
      },
    });
    const stream = await post(app.url);
    await settles(stream.rest(), 'the reply');
    expect(tokens(stream.events)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(taken).toEqual(Array(5).fill(true));
    // The open marker, every token and the end: none waited for a promise.
    expect(direct).toEqual(['', 't0', 't1', 't2', 't3', 't4', '{"reason":"done"}']);
  });

  it('on the in-memory broker, a send it refuses (closed) ends the reply as failed, and later sends are refused', async () => {
    const broker = createMemoryBroker();
    const results: boolean[] = [];
    const errors: unknown[] = [];
    const app = await instance({
      broker,
      onError: (error) => errors.push(error),
      produce: async ({ send }) => {
        results.push(await send('t0'));
        await broker.close();
        results.push(await send('t1'));
        results.push(await send('t2'));
      },
    });
    const stream = await post(app.url);
    await settles(stream.rest(), 'the reply');
    // (The readers lose the closed broker too: this is about the producer's side.)
    expect(results).toEqual([true, false, false]);
    expect(errors.some((e) => e instanceof Error && /closed/.test(e.message))).toBe(true);
    expect(app.replies.metrics().ended).toMatchObject({ done: 0, failed: 1 });
  });

  it("the POST's own reader follows live from the open marker: it reads no history", async () => {
    const inner = createMemoryBroker();
    let reads = 0;
    const broker: Broker = {
      ...inner,
      history: (...args) => {
        reads++;
        return inner.history(...args);
      },
    };
    const app = await instance({
      broker,
      produce: async ({ send }) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        for (let i = 0; i < 5; i++) await send(`t${i}`);
      },
    });
    const stream = await post(app.url);
    await settles(stream.rest(), 'the reply');
    expect(tokens(stream.events)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(reads).toBe(0);
  });

  it('events that landed before the POST reader joined are replayed to it, then it follows live', async () => {
    const broker = createMemoryBroker();
    let reads = 0;
    const history = broker.history;
    broker.history = (...args) => {
      reads++;
      return history(...args);
    };
    const app = await instance({
      broker,
      produce: async ({ send }) => {
        // Sent before the first await: the in-memory broker has them before the reader exists.
        void send('t0');
        void send('t1');
        await new Promise((resolve) => setTimeout(resolve, 5));
        await send('t2');
      },
    });
    const stream = await post(app.url);
    await settles(stream.rest(), 'the reply');
    expect(tokens(stream.events)).toEqual(['t0', 't1', 't2']);
    expect(reads).toBeGreaterThan(0);
  });

  it('a wrapper that inherits from the in-memory broker and replaces publish sees every event', async () => {
    const inner = createMemoryBroker();
    const seen: string[] = [];
    const broker: Broker = Object.create(inner);
    broker.publish = (topics, init) => {
      seen.push(init.data);
      return inner.publish(topics, init);
    };
    const app = await instance({
      broker,
      produce: async ({ send }) => {
        for (let i = 0; i < 3; i++) await send(`t${i}`);
      },
    });
    const stream = await post(app.url);
    await settles(stream.rest(), 'the reply');
    expect(tokens(stream.events)).toEqual(['t0', 't1', 't2']);
    expect(seen.filter((d) => d.startsWith('t'))).toEqual(['t0', 't1', 't2']);
  });

  it('sends on a runtime without setImmediate (a timer carries the batch instead), while the producer is still running', async () => {
    const inner = createMemoryBroker();
    // publish replaced: no synchronous publish, every send goes as a batch.
    const broker: Broker = { ...inner, publish: (topics, init) => inner.publish(topics, init) };
    const seen = deferred();
    const app = await instance({
      broker,
      produce: async ({ send }) => {
        const saved = globalThis.setImmediate;
        (globalThis as { setImmediate?: unknown }).setImmediate = undefined;
        try {
          await send('t1');
          await send('t2');
        } finally {
          globalThis.setImmediate = saved;
        }
        // Not done yet: the events must reach the broker (and the reader) without the end's drain.
        await seen.promise;
      },
    });
    const stream = await post(app.url);
    expect(tokens(await settles(stream.take(2), 'the first events', 2000))).toEqual(['t1', 't2']);
    seen.resolve();
    const events = await settles(stream.rest(), 'the reply', 2000);
    expect(events.at(-1)?.data).toBe('{"reason":"done"}');
  });
});
