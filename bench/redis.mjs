// bench:redis: 1,000 subscribers over 2 hub instances sharing Redis, a publisher on its own Redis
// connection, at 1k and 10k events/s; baseline: the in-memory broker on one instance, publisher
// over HTTP POST. Reports publish-to-deliver latency p50/p99, deliveries/s, hub CPU per delivery
// and Redis's own CPU (INFO cpu). Bounded: a few seconds per run.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { Redis } from 'ioredis';
import { createRedisBroker } from '../dist/redis.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBS = 1000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const RATES = [1000, 10_000];
const agent = new http.Agent({ keepAlive: true, maxSockets: SUBS + 10 });

function startHub(env) {
  const child = spawn(process.execPath, [new URL('./redis-server.mjs', import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve) => {
    child.stdout.once('data', (d) => resolve({ child, port: JSON.parse(String(d)).port }));
  });
}
const get = (port, path) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(JSON.parse(t)));
      })
      .on('error', reject);
  });

function subscribe(port, latencies, counter) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/?topic=bench', agent }, (res) => {
      resolve(req);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const d = block.indexOf('data: ');
          if (d === -1) continue;
          const sent = Number(block.slice(d + 6));
          if (counter.measuring) latencies.push(performance.now() - sent);
          counter.n++;
        }
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
  });
}

const pct = (xs, p) => {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
async function redisCpu(admin) {
  const info = await admin.info('cpu');
  const f = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)[1]);
  return f('used_cpu_sys') + f('used_cpu_user');
}

async function run(mode, rate) {
  const prefix = `ssekit-bench:${process.pid}:${mode}:${rate}:`;
  const instances = mode === 'redis' ? 2 : 1;
  const hubs = [];
  for (let i = 0; i < instances; i++)
    hubs.push(await startHub({ BROKER: mode, SSEKIT_PREFIX: prefix, REDIS_URL }));
  const latencies = [];
  const counter = { n: 0, measuring: false };
  const reqs = [];
  for (let i = 0; i < SUBS; i++) reqs.push(await subscribe(hubs[i % instances].port, latencies, counter));
  const publisher = mode === 'redis' ? createRedisBroker({ url: REDIS_URL, prefix }) : null;
  if (publisher) await publisher.ready();
  const publish = publisher
    ? (data) => publisher.publish(['bench'], { data })
    : (data) =>
        new Promise((resolve, reject) => {
          const body = JSON.stringify({ topic: 'bench', data });
          const r = http.request(
            {
              host: '127.0.0.1',
              port: hubs[0].port,
              method: 'POST',
              path: '/',
              agent,
              headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            },
            (res) => {
              res.resume();
              res.on('end', resolve);
            },
          );
          r.on('error', reject);
          r.end(body);
        });
  const admin = new Redis(REDIS_URL);
  const cpu0 = await Promise.all(hubs.map((h) => get(h.port, '/__cpu')));
  const rcpu0 = await redisCpu(admin);
  counter.measuring = true;
  const n0 = counter.n;
  const t0 = performance.now();
  const total = rate * SECONDS;
  let sent = 0;
  const inflight = new Set();
  // Paced in 1 ms slots: every slot publishes what the clock says is due.
  while (sent < total && performance.now() - t0 < SECONDS * 1000 + 2000) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      const p = publish(String(performance.now())).finally(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  const expected = n0 + sent * SUBS;
  const deadline = performance.now() + 5000;
  while (counter.n < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const elapsed = (performance.now() - t0) / 1000;
  counter.measuring = false;
  const cpu1 = await Promise.all(hubs.map((h) => get(h.port, '/__cpu')));
  const rcpu1 = await redisCpu(admin);
  const delivered = counter.n - n0;
  const hubCpuUs = cpu1.reduce((s, c, i) => s + c.cpu - cpu0[i].cpu, 0);
  for (const r of reqs) r.destroy();
  for (const h of hubs) h.child.kill('SIGTERM');
  if (publisher) {
    await publisher.destroyAll();
    await publisher.close();
  }
  admin.disconnect();
  return {
    mode,
    rate,
    published: sent,
    delivered,
    lost: sent * SUBS - delivered,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    deliveriesPerS: delivered / elapsed,
    cpuPerDeliveryUs: hubCpuUs / delivered,
    redisCpuS: rcpu1 - rcpu0,
  };
}

const rows = [];
for (const rate of RATES) {
  for (const mode of ['memory', 'redis']) rows.push(await run(mode, rate));
}
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(
  `\nbench:redis: ${SUBS} subscribers, ${SECONDS}s per run; redis = 2 instances, memory = 1 instance\n`,
);
console.log(
  '| broker | events/s | published | delivered | missing | p50 ms | p99 ms | deliveries/s | hub CPU µs/delivery | ratio vs memory | Redis CPU s |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const base = rows.find((x) => x.mode === 'memory' && x.rate === r.rate);
  console.log(
    `| ${r.mode} | ${r.rate} | ${r.published} | ${r.delivered} | ${r.lost} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.deliveriesPerS, 0)} | ${f(r.cpuPerDeliveryUs, 3)} | ${f(r.cpuPerDeliveryUs / base.cpuPerDeliveryUs)} | ${r.mode === 'redis' ? f(r.redisCpuS) : '-'} |`,
  );
}
agent.destroy();
process.exit(0);
