import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createParser } from '../../src/index.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';
import { type Run, run } from './run.js';

const started: Run[] = [];
afterAll(() => {
  for (const cli of started) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
});

function serve(args: string[]): Run {
  const cli = run(['serve', '--port', '0', ...args]);
  started.push(cli);
  return cli;
}

async function baseUrl(cli: Run): Promise<string> {
  const text = await cli.waitFor('stderr', /listening on (http:\S+)/);
  return text.match(/listening on (http:\S+)/)![1]!;
}

interface Subscriber {
  worker: string | undefined;
  events: { id: string; data: string }[];
  next(count: number): Promise<{ id: string; data: string }[]>;
  close(): void;
}

/** A raw SSE subscriber on its own TCP connection (so node:cluster may hand it to any worker). */
function subscribe(url: string, lastEventId?: string): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const req = http.get(url, { agent: false, headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      const events: { id: string; data: string }[] = [];
      let wake = (): void => {};
      const parser = createParser({
        onEvent: (event) => {
          events.push({ id: event.id, data: event.data });
          wake();
        },
      });
      res.on('data', (chunk: Buffer) => parser.feed(new Uint8Array(chunk)));
      res.on('error', () => {});
      resolve({
        worker: res.headers['ssekit-worker'] as string | undefined,
        events,
        next: (count) =>
          new Promise((done) => {
            const check = () => {
              if (events.length >= count) done(events.slice(0, count));
            };
            wake = check;
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

async function publish(base: string, topic: string, data: string): Promise<string> {
  const cli = run(['publish', `${base}/`, topic, data]);
  expect(await cli.exited).toBe(0);
  return cli.stdout().trim();
}

/** Opens subscribers until both workers of a 2-worker server hold at least one. */
async function spreadOverWorkers(url: string): Promise<Subscriber[]> {
  const subs: Subscriber[] = [];
  while (new Set(subs.map((s) => s.worker)).size < 2) {
    expect(subs.length).toBeLessThan(20);
    subs.push(await subscribe(url));
  }
  for (const sub of subs) expect(sub.worker).toMatch(/^\d+$/);
  return subs;
}

describe('ssekit serve --workers 2 (shared in-memory broker in the primary)', () => {
  it('delivers a publish on any worker to subscribers on every worker, and resumes across workers', async () => {
    const hub = serve(['--workers', '2']);
    const base = await baseUrl(hub);
    expect(hub.stderr()).toContain('2 workers');

    const subs = await spreadOverWorkers(`${base}/?topic=news`);
    const ids: string[] = [];
    for (const data of ['one', 'two', 'three']) ids.push(await publish(base, 'news', data));
    for (const sub of subs) {
      expect(await sub.next(3)).toEqual([
        { id: ids[0], data: 'one' },
        { id: ids[1], data: 'two' },
        { id: ids[2], data: 'three' },
      ]);
    }
    for (const sub of subs) sub.close();

    // Missed while away, resumed on whichever worker takes the new connection: both must know it.
    ids.push(await publish(base, 'news', 'four'));
    const resumed = await spreadOverWorkers(`${base}/?topic=news&lastEventId=${ids[2]}`);
    for (const sub of resumed) expect(await sub.next(1)).toEqual([{ id: ids[3], data: 'four' }]);
    for (const sub of resumed) sub.close();

    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    const lines = hub
      .stderr()
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\S+ ssekit serve\[\d+\]: /, '').split(' ')[0]);
    expect(lines).toEqual(['listening', 'SIGTERM:', 'stopped']);
  });

  // Issue 12.1: each connection carries what fits in maxQueuedBytes (1 MiB), then a retry hint;
  // the client resumes from there, on whichever worker takes it, and reaches the head.
  it('a subscriber far behind (30 events of 60 kB) reaches the head within a few reconnects', async () => {
    const hub = serve(['--workers', '2']);
    const base = await baseUrl(hub);
    const data = 'x'.repeat(60_000);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${base}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'far', data }),
      });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const seen: string[] = [];
    let rounds = 0;
    while (seen.length < 29 && rounds < 5) {
      rounds++;
      const abort = new AbortController();
      const response = await fetch(`${base}/?topic=far`, {
        headers: { 'last-event-id': seen.at(-1) ?? (ids[0] as string) },
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      const retries: number[] = [];
      const parser = createParser({ onEvent: (e) => seen.push(e.id), onRetry: (ms) => retries.push(ms) });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let ended = false;
      while (seen.length < 29) {
        const next = await reader.read();
        if (next.done) {
          ended = true;
          break;
        }
        parser.feed(next.value);
      }
      if (ended) expect(retries).toHaveLength(1);
      else abort.abort();
    }
    expect(seen).toEqual(ids.slice(1));
    expect(rounds).toBeGreaterThan(1);
    expect(rounds).toBeLessThanOrEqual(3);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });

  it('replaces a worker that dies', async () => {
    const hub = serve(['--workers', '2']);
    const base = await baseUrl(hub);
    const subs = await spreadOverWorkers(`${base}/?topic=t`);
    process.kill(Number(subs[0]!.worker), 'SIGKILL');
    await hub.waitFor('stderr', /listening \(replaces one that exited\)/);
    for (const sub of subs) sub.close();
    const fresh = await spreadOverWorkers(`${base}/?topic=t`);
    const id = await publish(base, 't', 'after');
    for (const sub of fresh) expect(await sub.next(1)).toEqual([{ id, data: 'after' }]);
    for (const sub of fresh) sub.close();
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
  });
});

const redis = await redisAvailable();

describe.skipIf(!redis)('ssekit serve --redis', () => {
  const prefix = uniquePrefix('cli-serve');
  afterAll(async () => {
    await deletePrefix(prefix);
  });

  it('two servers sharing Redis (one with 2 workers): publish on one, deliver and resume on the other', async () => {
    const a = serve(['--redis', REDIS_URL, '--redis-prefix', prefix, '--workers', '2']);
    const b = serve(['--redis', REDIS_URL, '--redis-prefix', prefix]);
    const [baseA, baseB] = await Promise.all([baseUrl(a), baseUrl(b)]);
    expect(a.stderr()).toMatch(/2 workers, Redis redis:/);

    const subs = await spreadOverWorkers(`${baseA}/?topic=news`);
    const first = await publish(baseB, 'news', 'from b');
    for (const sub of subs) expect(await sub.next(1)).toEqual([{ id: first, data: 'from b' }]);
    for (const sub of subs) sub.close();

    const missed = await publish(baseB, 'news', 'while away');
    const resumed = await subscribe(`${baseA}/?topic=news`, first);
    expect(await resumed.next(1)).toEqual([{ id: missed, data: 'while away' }]);
    resumed.close();

    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  });

  it('exits 1 with one line when Redis does not answer; 2 on a malformed --redis', async () => {
    const down = serve(['--redis', 'redis://127.0.0.1:1']);
    expect(await down.exited).toBe(1);
    expect(down.stderr().trim().split('\n')).toHaveLength(1);
    expect(down.stderr()).toMatch(/cannot reach Redis/);
    expect(await serve(['--redis', 'localhost:6379']).exited).toBe(2);
    expect(await serve(['--redis-prefix', 'x']).exited).toBe(2);
  });
});
