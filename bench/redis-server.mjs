// One hub instance of `npm run bench:redis`, forked with IPC. BROKER=redis|memory; SSEKIT_BASE=1:
// ssekit as built in SSEKIT_BASELINE_DIST (the parent's --baseline DIR; see lib/dist.mjs).
// IPC: first message out {port}; {cmd:'cpu'} -> {cpu} (this process's user+system µs, so the
// bench sums the hubs' own CPU); {cmd:'publish', rate, ms, topic} -> {sent}: the in-process
// publisher of the memory baseline (paced in 1 ms slots, each event's data its publish time).
import { createServer } from 'node:http';
import { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadDist } from './lib/dist.mjs';
import { pacedPublish } from './redis-publisher.mjs';

const base = process.env.SSEKIT_BASE === '1';
const { createHub } = await loadDist('hub.js', base);
const { createRequestListener } = await loadDist('node.js', base);
const { createRedisBroker } = await loadDist('redis.js', base);

const broker =
  process.env.BROKER === 'redis'
    ? createRedisBroker({
        url: process.env.REDIS_URL,
        prefix: process.env.SSEKIT_PREFIX,
      })
    : undefined;
if (broker) await broker.ready();
// Socket writes (to subscribers, and the broker's commands), for events per write.
let writes = 0;
const socketWrite = Socket.prototype.write;
Socket.prototype.write = function write(...args) {
  writes++;
  return socketWrite.apply(this, args);
};
// Feed latency (publish -> this hub's broker listener), for finding where time goes.
const feedLag = [];
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
if (broker) {
  const subscribe = broker.subscribe.bind(broker);
  broker.subscribe = (listener) =>
    subscribe({
      ...listener,
      onEvent(event) {
        if (feedLag.length < 200_000)
          feedLag.push(performance.timeOrigin + performance.now() - Number(event.data));
        listener.onEvent(event);
      },
    });
}
const hub = createHub({
  broker,
  heartbeat: false,
  // 2 client processes hold all the subscribers (one address); a 10k events/s burst may queue a
  // few MB each. Set, not left to defaults that differ between versions.
  limits: {
    maxSubscribers: 1_000_000,
    maxSubscribersPerAddress: Number.POSITIVE_INFINITY,
    maxQueuedBytes: 16 * 1024 * 1024,
  },
});
const server = createServer(createRequestListener(hub.handler, { requestSignal: false }));
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));

process.on('message', async (m) => {
  if (m.cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    const sorted = Float64Array.from(feedLag).sort();
    const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
    process.send({
      cpu: user + system,
      writes,
      feedP50: q(0.5),
      feedP99: q(0.99),
      loopP99: loopDelay.percentile(99) / 1e6,
    });
    loopDelay.reset();
    feedLag.length = 0;
  } else if (m.cmd === 'publish') {
    const sent = await pacedPublish((data) => hub.publish(m.topic, { data }), m.rate, m.ms);
    process.send({ sent });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
