// One replies instance in its own process, for the tests that SIGKILL a producing instance:
// createReplies on the Redis broker, node:http on an ephemeral port of 127.0.0.1. Reports its
// port over IPC ({ port }). POST /chat with {"count":N,"intervalMs":M} starts a producer that
// sends t1..tN, one every M ms; the rest is the replies handler.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestListener } from '../../src/adapters/node/index.js';
import { createRedisBroker } from '../../src/adapters/redis/index.js';
import { createReplies } from '../../src/replies/index.js';

const env = process.env;
const broker = createRedisBroker({ url: env.REDIS_URL, prefix: env.SSEKIT_PREFIX, onError: () => {} });
await broker.ready();
const replies = createReplies({
  broker,
  heartbeat: false,
  producerHeartbeat: Number(env.SSEKIT_HEARTBEAT_MS ?? 1000),
  producerLostAfter: Number(env.SSEKIT_LOST_AFTER_MS ?? 5000),
  maxDuration: env.SSEKIT_MAX_DURATION_MS === undefined ? false : Number(env.SSEKIT_MAX_DURATION_MS),
  onError: () => {},
});

const server = createServer(
  createRequestListener(async (request) => {
    if (request.method === 'POST' && new URL(request.url).pathname === '/chat') {
      const { count = 10, intervalMs = 10 } = (await request.json()) as {
        count?: number;
        intervalMs?: number;
      };
      return replies.start(request, async ({ send, signal }) => {
        for (let i = 1; i <= count && !signal.aborted; i++) {
          await send(`t${i}`);
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
      });
    }
    return replies.handler(request);
  }),
);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => {
  server.closeAllConnections();
  server.close();
  void replies
    .close({ timeout: 0 })
    .then(() => broker.close())
    .then(() => process.exit(0));
});
