// One hub instance for bench:redis. BROKER=redis|memory. Prints {"port":N}. GET /__cpu answers
// this process's CPU time (µs), so the bench measures the hub's own CPU per delivery.
import { createServer } from 'node:http';
import { createHub } from '../dist/hub.js';
import { createRequestListener } from '../dist/node.js';
import { createRedisBroker } from '../dist/redis.js';

const broker =
  process.env.BROKER === 'redis'
    ? createRedisBroker({ url: process.env.REDIS_URL, prefix: process.env.SSEKIT_PREFIX })
    : undefined;
if (broker) await broker.ready();
const hub = createHub({ broker, heartbeatMs: false, limits: { maxSubscribersPerAddress: 100_000 } });
const listener = createRequestListener(hub.handler);
const server = createServer((req, res) => {
  if (req.url === '/__cpu') {
    const { user, system } = process.cpuUsage();
    res.end(JSON.stringify({ cpu: user + system }));
    return;
  }
  listener(req, res);
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
process.on('SIGTERM', () => process.exit(0));
