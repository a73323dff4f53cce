/**
 * A producing instance SIGKILLed mid-reply: two replies instances in processes of their own on
 * one Redis (instance.fixture.ts). Nothing says goodbye: no end is written, sockets just drop.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bundleForNode } from '../helpers/bundle.js';
import { deletePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/redis.js';
import { get, request, type Stream, settles, tokens } from './helpers.js';

const available = await redisAvailable();
const prefixes: string[] = [];
const children: ChildProcess[] = [];
const streams: Stream[] = [];

afterEach(() => {
  for (const stream of streams.splice(0)) stream.disconnect();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
afterAll(async () => {
  if (available) await Promise.all(prefixes.map(deletePrefix));
});

const bundleFixture = (): Promise<string> => bundleForNode(join(import.meta.dirname, 'instance.fixture.ts'));

/** Forks an instance; resolves with its process and URL once it listens. */
async function startInstance(
  script: string,
  prefix: string,
): Promise<{ child: ChildProcess; url: string; pid: number }> {
  const child = fork(script, [], {
    env: {
      ...process.env,
      REDIS_URL,
      SSEKIT_PREFIX: prefix,
      SSEKIT_HEARTBEAT_MS: '100',
      SSEKIT_LOST_AFTER_MS: '1000',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`instance exited early (${String(code)})`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, pid: child.pid as number };
}

const LOST = JSON.stringify({ reason: 'producer-lost' });

describe.skipIf(!available)(
  'replies: the producing process SIGKILLed mid-reply (two processes, Redis)',
  () => {
    it('ends the readers on the other instance with end {producer-lost}; a new GET there settles too', async () => {
      const script = await bundleFixture();
      const prefix = uniquePrefix('replies-kill');
      prefixes.push(prefix);
      const [a, b] = await Promise.all([startInstance(script, prefix), startInstance(script, prefix)]);

      // 1,000 tokens 10 ms apart: far from done when A dies.
      const started = await request(`${a.url}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count: 1000, intervalMs: 10 }),
      });
      streams.push(started);
      expect(started.status).toBe(200);
      const location = started.headers.get('content-location') as string;
      await started.take(3);
      const onA = await get(a.url, location);
      const onB = [await get(b.url, location), await get(b.url, location)];
      streams.push(onA, ...onB);
      for (const stream of [onA, ...onB]) await stream.take(5);

      process.kill(a.pid, 'SIGKILL');
      await settles(new Promise((resolve) => a.child.once('exit', resolve)), 'the killed process');

      // The readers on A lose their connection: they settle with an error (a client resumes).
      for (const stream of [started, onA]) {
        await settles(
          stream.rest().then(
            () => undefined,
            () => undefined,
          ),
          'a reader on the killed instance',
        );
      }
      // The readers on B get every token once, in order, then the end.
      const seen: string[][] = [];
      for (const stream of onB) {
        const events = await settles(stream.rest(), 'a reader on B');
        expect(events.at(-1)).toMatchObject({ event: 'end', data: LOST });
        expect(events.filter((e) => e.event === 'end')).toHaveLength(1);
        const got = tokens(events);
        expect(got.length).toBeGreaterThanOrEqual(5);
        expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `t${i + 1}`));
        seen.push(got);
      }
      expect(seen[1]).toEqual(seen[0]);

      // A new GET on B settles at once from the log: the same tokens, the same end.
      const later = await get(b.url, location);
      streams.push(later);
      expect(later.status).toBe(200);
      const replayed = await settles(later.rest(), 'a new GET on B');
      expect(tokens(replayed)).toEqual(seen[0]);
      expect(replayed.at(-1)).toMatchObject({ event: 'end', data: LOST });
      // Resuming from the end's id: 204 (the client stops).
      const done = await get(b.url, location, replayed.at(-1)?.id);
      expect(done.status).toBe(204);
      // And from a token's id: the rest, then the end.
      const resumed = await get(b.url, location, replayed[2]?.id);
      streams.push(resumed);
      const rest = await settles(resumed.rest(), 'a resume on B');
      expect(tokens(rest)).toEqual(seen[0]?.slice(3));
      expect(rest.at(-1)?.data).toBe(LOST);
    }, 60_000);
  },
);
