// The publisher of `npm run bench:redis` with the Redis broker: its own process and its own
// Redis connection (a broker that only publishes). Forked with IPC: {cmd:'publish', rate, ms,
// topic} -> {sent}. Also exports the pacing loop the memory baseline's hub uses in-process.
// SSEKIT_BASE=1: the broker as built in SSEKIT_BASELINE_DIST (see lib/dist.mjs).
import { loadDist } from './lib/dist.mjs';

const now = () => performance.timeOrigin + performance.now();

/**
 * Publishes `rate` events/s for `ms`, in 1 ms slots: each slot sends what the clock says is due.
 * Each event carries its *scheduled* time (start + i / rate), not the time the loop got to it:
 * a publisher that runs late (the memory baseline's hub, busy flushing, publishes in-process)
 * counts that delay as latency, as an outside publisher would see it.
 */
export async function pacedPublish(publish, rate, ms, rtts) {
  const total = Math.round((rate * ms) / 1000);
  const t0 = performance.now();
  let sent = 0;
  const inflight = new Set();
  let failed = 0;
  while (sent < total && performance.now() - t0 < ms + 2000) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (sent < due) {
      const at = now();
      const scheduled = performance.timeOrigin + t0 + (sent * 1000) / rate;
      const p = publish(String(scheduled)).then(
        () => {
          inflight.delete(p);
          rtts?.push(now() - at);
        },
        () => {
          failed++;
          inflight.delete(p);
        },
      );
      inflight.add(p);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  return sent - failed;
}

if (process.send !== undefined && process.env.BENCH_ROLE === 'publisher') {
  const { createRedisBroker } = await loadDist('redis.js', process.env.SSEKIT_BASE === '1');
  const broker = createRedisBroker({ url: process.env.REDIS_URL, prefix: process.env.SSEKIT_PREFIX });
  await broker.ready();
  process.on('message', async (m) => {
    if (m.cmd === 'publish') {
      const rtts = [];
      const sent = await pacedPublish((data) => broker.publish([m.topic], { data }), m.rate, m.ms, rtts);
      rtts.sort((a, b) => a - b);
      const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
      process.send({ sent, rttP50: q(0.5), rttP99: q(0.99) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.send({ ready: true });
}
