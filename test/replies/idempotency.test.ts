import { describe, expect, it } from 'vitest';
import { createMemoryBroker } from '../../src/hub/index.js';
import { createReplies } from '../../src/replies/index.js';
import {
  deferred,
  instancesPerTest,
  killable,
  post,
  settles,
  sharedBroker,
  steppedProducer,
  tokens,
} from './helpers.js';

const instance = instancesPerTest();

const ALL = ['t1', 't2', 't3', 't4', 't5'];

describe('replies: Idempotency-Key', () => {
  it('joins 10 concurrent POSTs with one key to one producer: same Content-Location, same events', async () => {
    const p = steppedProducer(5);
    const app = await instance({ produce: p.produce });
    const headers = { 'idempotency-key': 'a8f3c1d2-key' };
    const streams = await Promise.all(Array.from({ length: 10 }, () => post(app.url, headers)));
    p.finish();
    expect(streams.map((s) => s.status)).toEqual(Array(10).fill(200));
    const locations = new Set(streams.map((s) => s.headers.get('content-location')));
    expect(locations.size).toBe(1);
    const all = await Promise.all(streams.map((s) => s.rest()));
    const first = all[0]?.map((e) => `${e.id} ${e.event} ${e.data}`);
    for (const events of all) expect(events.map((e) => `${e.id} ${e.event} ${e.data}`)).toEqual(first);
    expect(tokens(all[0] ?? [])).toEqual(ALL);
    expect(p.state.runs).toBe(1);
    expect(app.replies.metrics()).toMatchObject({ started: 1, joined: 9 });
  });

  it('a joining POST with Last-Event-ID (a client reconnecting by POSTing again) gets what follows, 204 after the end, 400 for a malformed id', async () => {
    const p = steppedProducer(5);
    const app = await instance({ produce: p.produce });
    const key = { 'idempotency-key': 'resumed-key' };
    p.finish();
    const whole = await (await post(app.url, key)).rest();
    const third = whole[2]?.id as string;
    const rest = await (await post(app.url, { ...key, 'last-event-id': third })).rest();
    expect(rest.map((e) => e.data)).toEqual(['t4', 't5', '{"reason":"done"}']);
    expect((await post(app.url, { ...key, 'last-event-id': whole.at(-1)?.id as string })).status).toBe(204);
    expect((await post(app.url, { ...key, 'last-event-id': 'bogus' })).status).toBe(400);
    expect(p.state.runs).toBe(1);
  });

  it('joins across instances sharing a broker (the claim is the broker’s)', async () => {
    const broker = sharedBroker();
    const p = steppedProducer(5);
    const a = await instance({ broker, produce: p.produce });
    const b = await instance({ broker, produce: p.produce });
    const headers = { 'idempotency-key': '"quoted-key-1"' };
    const streams = await Promise.all(
      Array.from({ length: 10 }, (_, i) => post(i % 2 === 0 ? a.url : b.url, headers)),
    );
    p.finish();
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
  });

  it('joins within one process when the broker has no claim()', async () => {
    const { claim: _claim, ...bare } = createMemoryBroker();
    const p = steppedProducer(5);
    const app = await instance({ broker: bare, produce: p.produce });
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => post(app.url, { 'idempotency-key': 'k' })),
    );
    p.finish();
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
  });

  it('a key names its reply for idempotencyTtl only: past it, the key starts a new reply (broker without claim())', async () => {
    const { claim: _claim, ...bare } = createMemoryBroker();
    let runs = 0;
    const app = await instance({
      broker: bare,
      idempotencyTtl: 100,
      produce: async ({ send }) => {
        runs++;
        await send('x');
      },
    });
    const key = { 'idempotency-key': 'short-lived-key' };
    const first = await post(app.url, key);
    await first.rest();
    const joined = await post(app.url, key);
    await joined.rest();
    expect(joined.headers.get('content-location')).toBe(first.headers.get('content-location'));
    expect(runs).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const later = await post(app.url, key);
    expect(tokens(await later.rest())).toEqual(['x']);
    expect(later.headers.get('content-location')).not.toBe(first.headers.get('content-location'));
    expect(runs).toBe(2);
  });

  it('replays a finished reply to a POST with its key, without running the producer again', async () => {
    const p = steppedProducer(5);
    p.finish();
    const app = await instance({ produce: p.produce });
    const first = await post(app.url, { 'idempotency-key': 'again' });
    const events = await first.rest();
    const later = await post(app.url, { 'idempotency-key': 'again' });
    expect(later.headers.get('content-location')).toBe(first.headers.get('content-location'));
    expect((await later.rest()).map((e) => e.id)).toEqual(events.map((e) => e.id));
    // Another key, another reply.
    const other = await post(app.url, { 'idempotency-key': 'other' });
    expect(other.headers.get('content-location')).not.toBe(first.headers.get('content-location'));
    await other.rest();
    expect(p.state.runs).toBe(2);
  });

  it('waits for the log when it joins before the claiming POST has opened it', async () => {
    const inner = sharedBroker();
    // The claimer's open marker lands 50 ms late: the joiner finds the key claimed, no log yet.
    const slow = {
      ...inner,
      publish: async (topics: readonly string[], event: { event?: string; data: string }) => {
        if (event.event === 'ssekit-open') await new Promise((resolve) => setTimeout(resolve, 50));
        return inner.publish(topics, event);
      },
    };
    const p = steppedProducer(5);
    const app = await instance({ broker: slow, produce: p.produce });
    const headers = { 'idempotency-key': 'slow-open' };
    const streams = await Promise.all([post(app.url, headers), post(app.url, headers)]);
    p.finish();
    expect(streams.map((s) => s.status)).toEqual([200, 200]);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
  });

  it('does not miss an open marker that arrives between reading the state and waiting for it', async () => {
    const inner = sharedBroker();
    const pageTaken = deferred();
    const opened = deferred();
    let taken = false;
    const racy = {
      ...inner,
      // The claimer's open marker lands right after the joiner read the control topic, and
      // before that read's answer reaches the joiner.
      publish: async (topics: readonly string[], event: { event?: string; data: string }) => {
        if (event.event !== 'ssekit-open') return inner.publish(topics, event);
        await pageTaken.promise;
        const id = await inner.publish(topics, event);
        opened.resolve();
        return id;
      },
      history: async (topics: readonly string[], afterId: string, options?: { limit?: number }) => {
        if (taken || !(topics[0] as string).endsWith('/control'))
          return inner.history(topics, afterId, options);
        taken = true;
        const page = await inner.history(topics, afterId, options);
        pageTaken.resolve();
        await opened.promise;
        return page;
      },
    };
    const p = steppedProducer(5);
    const app = await instance({ broker: racy, produce: p.produce, producerLostAfter: 60_000 });
    const headers = { 'idempotency-key': 'racy-open' };
    const streams = await Promise.all([post(app.url, headers), post(app.url, headers)]);
    p.finish();
    expect(streams.map((s) => s.status)).toEqual([200, 200]);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
  });

  it('answers 400 to a malformed key: empty, too long, not printable ASCII', async () => {
    const app = await instance({ produce: async () => {}, limits: { maxIdempotencyKeyLength: 16 } });
    for (const key of ['', '""', 'x'.repeat(17), 'tab\there', 'quote"inside']) {
      expect((await post(app.url, { 'idempotency-key': key })).status, JSON.stringify(key)).toBe(400);
    }
    expect((await post(app.url, { 'idempotency-key': 'x'.repeat(16) })).status).toBe(200);
    const replies = createReplies();
    await expect(
      replies.start(new Request('http://x/', { method: 'POST' }), async () => {}, { idempotencyKey: '' }),
    ).rejects.toBeInstanceOf(RangeError);
    await replies.close();
  });

  it('asks authorize for read on the reply a key joins', async () => {
    const p = steppedProducer(1);
    p.finish();
    const asked: string[] = [];
    const app = await instance({
      produce: p.produce,
      authorize: ({ request, action }) => {
        asked.push(action);
        return action === 'start' || request.headers.get('x-user') === 'owner';
      },
    });
    const first = await post(app.url, { 'idempotency-key': 'mine', 'x-user': 'owner' });
    await first.rest();
    const stranger = await post(app.url, { 'idempotency-key': 'mine', 'x-user': 'stranger' });
    expect(stranger.status).toBe(403);
    expect(asked).toEqual(['start', 'start', 'read']);
  });
  it('answers 503 and tells onError when the broker cannot claim the key, and runs nothing (the slot is free again)', async () => {
    const errors: unknown[] = [];
    const failure = new Error('claim failed');
    const broker = { ...createMemoryBroker(), claim: () => Promise.reject(failure) };
    const p = steppedProducer(1);
    p.finish();
    const app = await instance({
      broker,
      produce: p.produce,
      onError: (e) => errors.push(e),
      limits: { maxRunning: 1 },
    });
    const refused = await post(app.url, { 'idempotency-key': 'k' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await refused.rest();
    expect(refused.text).toContain('the event store is unavailable');
    expect(errors).toEqual([failure]);
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, running: 0 });
    // The place it held under maxRunning is given back: a POST without a key starts.
    const next = await post(app.url);
    expect(next.status).toBe(200);
    expect(tokens(await next.rest())).toEqual(['t1']);
  });

  it('answers 503 when the key names something that is not a reply (a value the broker holds from elsewhere)', async () => {
    const broker = { ...createMemoryBroker(), claim: async () => 'not a reply id' };
    const p = steppedProducer(1);
    p.finish();
    const app = await instance({ broker, produce: p.produce });
    const refused = await settles(post(app.url, { 'idempotency-key': 'k' }), 'the POST');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await refused.rest();
    expect(refused.text).toContain('the event store is unavailable');
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, joined: 0, running: 0 });
  });

  it('answers 401 to a POST that would join a reply by its key with read credentials already expired', async () => {
    const p = steppedProducer(2);
    const app = await instance({
      produce: p.produce,
      authorize: ({ action }) => (action === 'start' ? true : { expiresAt: Date.now() - 1 }),
    });
    const key = { 'idempotency-key': 'expiring' };
    const first = await post(app.url, key);
    await first.take(1);
    const joining = await post(app.url, key);
    expect(joining.status).toBe(401);
    expect(joining.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(joining.headers.get('content-location')).toBeNull();
    p.finish();
    expect(tokens(await first.rest())).toEqual(['t1', 't2']);
    expect(p.state.runs).toBe(1);
    expect(app.replies.metrics()).toMatchObject({ joined: 0, rejected: { 401: 1 } });
  });
  it('answers 404 after producerLostAfter, not later and never with a second run, to a POST whose key names a confirmed reply that has no log', async () => {
    // Every claim answers with this id, its confirmation too: the reply was confirmed (it may
    // have run), and its log is gone (expired, or evicted).
    const broker = { ...createMemoryBroker(), claim: async () => 'AAAAAAAAAAAAAAAAAAAAAA' };
    const p = steppedProducer(1);
    const app = await instance({ broker, produce: p.produce, producerLostAfter: 50 });
    const refused = await settles(post(app.url, { 'idempotency-key': 'orphan' }), 'the joining POST', 2000);
    expect(refused.status).toBe(404);
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, readers: 0 });
  });

  /** Two instances on one broker: `a`'s publishes fail (or wait for `release()`), so its opens do. */
  async function claimerAndTakeover(p: ReturnType<typeof steppedProducer>, mode: 'fail' | 'gate') {
    const shared = sharedBroker();
    const gate = deferred();
    const a = await instance({
      // Its own spread: no synchronous publish, every open goes through `publish`.
      broker: {
        ...shared,
        publish: (topics, init) =>
          mode === 'fail'
            ? Promise.reject(new Error('broker unreachable'))
            : gate.promise.then(() => shared.publish(topics, init)),
      },
      produce: p.produce,
      producerLostAfter: 50,
      onError: () => {},
    });
    const b = await instance({ broker: shared, produce: p.produce, producerLostAfter: 50 });
    return { a, b, release: () => gate.resolve() };
  }

  it('gives a key whose claimer failed before its reply opened to one new reply, produced once, which every later POST joins', async () => {
    const p = steppedProducer(5);
    const { a, b } = await claimerAndTakeover(p, 'fail');
    const key = { 'idempotency-key': 'claimed-then-failed' };
    expect((await post(a.url, key)).status).toBe(503);
    const taken = await settles(post(b.url, key), 'the POST that takes the key over', 2000);
    expect(taken.status).toBe(200);
    const location = taken.headers.get('content-location');
    const again = await settles(post(b.url, key), 'a POST after the takeover', 2000);
    expect(again.headers.get('content-location')).toBe(location);
    p.finish();
    expect(tokens(await taken.rest())).toEqual(ALL);
    expect(tokens(await again.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
    expect(b.replies.metrics()).toMatchObject({ started: 1, joined: 1 });
  });

  it('gives a failed claimer’s key to one reply when several POSTs take it over at once, on both instances', async () => {
    const p = steppedProducer(5);
    const { a, b } = await claimerAndTakeover(p, 'fail');
    const key = { 'idempotency-key': 'taken-over-at-once' };
    expect((await post(a.url, key)).status).toBe(503);
    const streams = await Promise.all(Array.from({ length: 6 }, () => post(b.url, key)));
    p.finish();
    expect(streams.map((s) => s.status)).toEqual(Array(6).fill(200));
    expect(new Set(streams.map((s) => s.headers.get('content-location'))).size).toBe(1);
    for (const stream of streams) expect(tokens(await stream.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
  });

  it('a claimer that opens after its key was taken over ends its reply unproduced and joins the one that took over', async () => {
    const p = steppedProducer(5);
    const { a, b, release } = await claimerAndTakeover(p, 'gate');
    const key = { 'idempotency-key': 'slow-claimer' };
    const slow = post(a.url, key); // claims the key, then waits to open
    const taken = await settles(post(b.url, key), 'the POST that takes the key over', 2000);
    expect(taken.status).toBe(200);
    release();
    const late = await settles(slow, 'the slow claimer’s POST', 2000);
    expect(late.status).toBe(200);
    expect(late.headers.get('content-location')).toBe(taken.headers.get('content-location'));
    p.finish();
    expect(tokens(await late.rest())).toEqual(ALL);
    expect(tokens(await taken.rest())).toEqual(ALL);
    expect(p.state.runs).toBe(1);
    expect(a.replies.metrics()).toMatchObject({ started: 0, ended: { 'producer-lost': 1 } });
  });

  it('gives up with 503 after three takeovers in a row, without trying a fourth open', async () => {
    const shared = sharedBroker();
    let opens = 0;
    const app = await instance({
      broker: {
        ...shared,
        publish: () => {
          opens++;
          return Promise.reject(new Error('broker unreachable'));
        },
      },
      produce: async () => {},
      producerLostAfter: 20,
      onError: () => {},
    });
    const key = { 'idempotency-key': 'never-opens' };
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(app.url, key)).status);
    expect(statuses).toEqual([503, 503, 503, 503, 503]);
    // The claimer, then one takeover a POST, up to three: the fifth POST opens nothing.
    expect(opens).toBe(4);
  });

  it('a reply stopped while it confirms its key never runs its producer; the POST gets its end', async () => {
    const shared = sharedBroker();
    const gate = deferred();
    const confirming = deferred<string>();
    const p = steppedProducer(2);
    const app = await instance({
      broker: {
        ...shared,
        // The confirmation (the key's name, then the reply's id) waits for the gate.
        claim: (name, value, ttl) => {
          if (!name.includes('\n')) return shared.claim?.(name, value, ttl) as Promise<string>;
          confirming.resolve(value);
          return gate.promise.then(() => shared.claim?.(name, value, ttl) as Promise<string>);
        },
      },
      produce: p.produce,
    });
    const pending = post(app.url, { 'idempotency-key': 'stopped-while-confirming' });
    const id = await confirming.promise;
    expect(await app.replies.stop(id)).toBe(true);
    gate.resolve();
    const stream = await settles(pending, 'the POST', 2000);
    expect(stream.status).toBe(200);
    expect((await stream.rest()).map((e) => `${e.event} ${e.data}`)).toEqual(['end {"reason":"stopped"}']);
    expect(p.state.runs).toBe(0);
    expect(app.replies.metrics()).toMatchObject({ started: 0, running: 0, storedBytes: 0 });
  });

  it('gives the key of a reply given up as lost before it confirmed to one new reply', async () => {
    const shared = sharedBroker();
    const { broker: dying, kill } = killable(shared);
    const p = steppedProducer(3);
    const options = { produce: p.produce, producerHeartbeat: 20, producerLostAfter: 200, onError: () => {} };
    const a = await instance({
      ...options,
      // A dies as it confirms: its reply opened, and was never confirmed nor produced.
      broker: {
        ...dying,
        claim: (name, value, ttl) => {
          if (!name.includes('\n')) return dying.claim?.(name, value, ttl) as Promise<string>;
          kill();
          return Promise.reject(new Error('this instance is dead'));
        },
      },
    });
    const b = await instance({ ...options, broker: shared });
    const key = { 'idempotency-key': 'opened-then-died' };
    expect((await post(a.url, key)).status).toBe(503);
    // The first POST on B joins the reply A opened, and learns it lost.
    const lost = await settles(post(b.url, key), 'the POST joining the lost reply', 5000);
    expect((await lost.rest()).map((e) => e.data)).toEqual(['{"reason":"producer-lost"}']);
    // The next takes the key over: one new reply, produced once, which the one after joins.
    const taken = await settles(post(b.url, key), 'the POST taking the key over', 5000);
    const joined = await settles(post(b.url, key), 'a POST after the takeover', 5000);
    expect(joined.headers.get('content-location')).toBe(taken.headers.get('content-location'));
    expect(taken.headers.get('content-location')).not.toBe(lost.headers.get('content-location'));
    p.finish();
    expect(tokens(await taken.rest())).toEqual(['t1', 't2', 't3']);
    expect(tokens(await joined.rest())).toEqual(['t1', 't2', 't3']);
    expect(p.state.runs).toBe(1);
  });

  it('never runs a confirmed reply again when it is lost: POSTs with its key get what it sent and producer-lost', async () => {
    const shared = sharedBroker();
    const { broker: dying, kill } = killable(shared);
    const p = steppedProducer(3);
    const options = { produce: p.produce, producerHeartbeat: 20, producerLostAfter: 200, onError: () => {} };
    const a = await instance({ ...options, broker: dying });
    const b = await instance({ ...options, broker: shared });
    const key = { 'idempotency-key': 'confirmed-then-died' };
    const first = await post(a.url, key);
    await first.take(1); // t1 is in the log: the reply was confirmed, and produced
    kill();
    for (let i = 0; i < 2; i++) {
      const again = await settles(post(b.url, key), `POST ${i + 1} on B`, 5000);
      expect(again.headers.get('content-location')).toBe(first.headers.get('content-location'));
      expect((await again.rest()).map((e) => e.data)).toEqual(['t1', '{"reason":"producer-lost"}']);
    }
    expect(p.state.runs).toBe(1);
  });
});
