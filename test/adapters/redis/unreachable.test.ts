/**
 * A Redis that cannot be reached is reported in our words: `ready()` rejects with a
 * `BrokerError` of type `unreachable` that names the server (never its password) and the cause,
 * where ioredis alone says "Connection is closed.". Needs no Redis: nothing listens on the port.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRedisBroker } from '../../../src/adapters/redis/index.js';
import { isBrokerError } from '../../../src/hub/index.js';

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Redis broker, unreachable', () => {
  it('ready() rejects naming the URL without its password, and the cause', async () => {
    const port = await closedPort();
    const broker = createRedisBroker({ url: `redis://:hunter2@127.0.0.1:${port}/0`, onError: () => {} });
    try {
      const error = await broker.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBrokerError(error)).toBe(true);
      expect(error).toMatchObject({ type: 'unreachable' });
      const message = (error as Error).message;
      expect(message).toContain(`cannot reach Redis at redis://:***@127.0.0.1:${port}/0`);
      expect(message).toContain('ECONNREFUSED');
      expect(message).not.toContain('hunter2');
    } finally {
      await broker.close();
    }
  });
});
