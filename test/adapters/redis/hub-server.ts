// A hub instance in its own process, for the failover test: Redis broker, node:http on an
// ephemeral port of 127.0.0.1. Prints {"port":N} once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestListener } from '../../../src/adapters/node/index.js';
import { createRedisBroker } from '../../../src/adapters/redis/index.js';
import { createHub } from '../../../src/hub/index.js';

const broker = createRedisBroker({
  url: process.env.REDIS_URL,
  prefix: process.env.SSEKIT_PREFIX,
  maxLen: Number(process.env.SSEKIT_MAXLEN ?? 20_000),
});
await broker.ready();
const hub = createHub({ broker, heartbeat: false });
const server = createServer(createRequestListener(hub.handler));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  void hub
    .close({ timeout: 100 })
    .then(() => broker.close())
    .then(() => process.exit(0));
});
