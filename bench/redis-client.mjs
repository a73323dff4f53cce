// Subscribers of `npm run bench:redis`: raw TCP SSE clients in their own process (so the hubs'
// CPU is theirs alone and this event loop does not sit in the hubs' latency). Each sends a GET,
// skips the response head, undoes HTTP/1.1 chunked framing and counts events ("\n\n", found
// with the native Buffer.indexOf). Every SAMPLE-th connection also parses whole events and
// records now - publish time (the event's data), so latency covers early and late fan-out slots.
// Usage: node bench/redis-client.mjs <port> <count> <topic>
// IPC: {cmd:'connect'} -> {connected, failed}; {cmd:'reset'} -> {}; {cmd:'report'} ->
// {events, samples, quantiles}; {cmd:'waitFor', events, timeoutMs} -> {events, at}.
import { connect } from 'node:net';
import { createBodyReader } from './lib/http-body-reader.mjs';

const [port, count, topic] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const SAMPLE = 10;
const now = () => performance.timeOrigin + performance.now();
const request = Buffer.from(`GET /?topic=${encodeURIComponent(topic)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
const NLNL = Buffer.from('\n\n');

let events = 0;
let lastAt = 0;
const MAX_SAMPLES = 1_000_000;
const samples = new Float64Array(MAX_SAMPLES);
let sampleCount = 0;
let waiter = null;
const sockets = [];
const shared = Buffer.allocUnsafe(256 * 1024);

// Returns the reader of one connection's bytes (called with a view of the shared read buffer).
function attach(socket, sampled, onReady) {
  let prevNL = false;
  let text = ''; // sampled connections: de-chunked body not yet parsed into whole events

  const body = (buf, from, to) => {
    let n = prevNL && buf[from] === 10 ? 1 : 0;
    const view = buf.subarray(from, to);
    for (let at = view.indexOf(NLNL); at !== -1; at = view.indexOf(NLNL, at + 2)) n++;
    prevNL = buf[to - 1] === 10;
    events += n;
    if (sampled) {
      text += view.toString('latin1');
      const t = now();
      let end = text.indexOf('\n\n');
      let start = 0;
      while (end !== -1) {
        const d = text.indexOf('data:', start);
        if (d !== -1 && d < end && sampleCount < MAX_SAMPLES) {
          samples[sampleCount++] = t - Number(text.slice(d + 5, text.indexOf('\n', d)).trim());
        }
        start = end + 2;
        end = text.indexOf('\n\n', start);
      }
      text = text.slice(start);
    }
  };

  const read = createBodyReader({
    requireChunked: true,
    onHead: (ok) => {
      if (!ok) socket.destroy();
      onReady(ok);
    },
    onBody: body,
  });
  return (buf) => {
    read(buf);
    lastAt = now();
    if (waiter !== null && events >= waiter.events) {
      clearTimeout(waiter.timer);
      waiter = null;
      process.send({ events, at: lastAt });
    }
  };
}

async function connectAll() {
  let connected = 0;
  let failed = 0;
  const BATCH = 100;
  for (let k = 0; k < count; k += BATCH) {
    const batch = [];
    for (let j = k; j < Math.min(count, k + BATCH); j++) {
      batch.push(
        new Promise((resolve) => {
          let read = null;
          // `onread`: bytes land in one shared buffer and reach `read` with no stream 'data'
          // event and no Buffer per read, which keeps this process cheap at 1M deliveries/s.
          const socket = connect({
            port,
            host: '127.0.0.1',
            onread: { buffer: shared, callback: (n, buf) => read(buf.subarray(0, n)) },
          });
          read = attach(socket, j % SAMPLE === 0, resolve);
          socket.on('error', () => resolve(false));
          socket.on('connect', () => socket.write(request));
          sockets.push(socket);
        }),
      );
    }
    for (const ok of await Promise.all(batch)) ok ? connected++ : failed++;
  }
  return { connected, failed };
}

process.on('message', async (m) => {
  if (m.cmd === 'connect') {
    process.send(await connectAll());
  } else if (m.cmd === 'reset') {
    events = 0;
    sampleCount = 0;
    process.send({});
  } else if (m.cmd === 'report') {
    // At most 10,001 evenly spaced quantiles of the sorted samples: the bench pools them,
    // weighted by `samples`, across client processes.
    const sorted = samples.slice(0, sampleCount).sort();
    const K = Math.min(10_000, sampleCount - 1);
    const quantiles = [];
    for (let k = 0; k <= K && sampleCount > 0; k++)
      quantiles.push(sorted[Math.round((k / Math.max(K, 1)) * (sampleCount - 1))]);
    const { user, system } = process.cpuUsage();
    process.send({ events, samples: sampleCount, quantiles, cpu: user + system });
  } else if (m.cmd === 'waitFor') {
    if (events >= m.events) {
      process.send({ events, at: lastAt });
    } else {
      const timer = setTimeout(() => {
        waiter = null;
        process.send({ events, at: lastAt });
      }, m.timeoutMs);
      waiter = { events: m.events, timer };
    }
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.send({ ready: true });
