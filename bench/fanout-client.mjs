// The subscribers of `npm run bench:fanout` / `bench:connections`: raw TCP clients (no
// EventSource, no http module) that send a GET, skip the response head, undo HTTP/1.1 chunked
// framing and count events; in latency mode they parse each event's publish time.
// Usage: node bench/fanout-client.mjs <port> <count> [localAddress]
// IPC: {cmd:'connect', count?} -> {connected, failed} (count more; default all of <count>); {cmd:'reset', latency} -> {}; {cmd:'report'} ->
// {events, p50, p99}; {cmd:'waitFor', events} -> {at}; {cmd:'close'} -> {}.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createBodyReader } from './lib/http-body-reader.mjs';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const localAddress = process.argv[4] || undefined; // '' or absent: the kernel picks
const now = () => performance.timeOrigin + performance.now();
const request = Buffer.from(`GET /?topic=t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);

let events = 0;
let latencyOn = false;
const MAX_SAMPLES = 400_000;
const samples = new Float64Array(MAX_SAMPLES);
let sampleCount = 0;
let waiter = null;
const sockets = [];

// Per-connection parser: skips the response head, undoes HTTP/1.1 chunked framing, and counts
// "\n\n" (event ends) in the body with Buffer.indexOf (native), so a client process can take
// more deliveries per second than the servers can make.
const NLNL = Buffer.from('\n\n');
const DATA = Buffer.from('data:');
function countEvents(buf, from, to, prevNL) {
  let n = prevNL && buf[from] === 10 ? 1 : 0;
  const view = buf.subarray(from, to);
  for (let at = view.indexOf(NLNL); at !== -1; at = view.indexOf(NLNL, at + 2)) n++;
  if (latencyOn) {
    const t = now();
    for (let at = view.indexOf(DATA); at !== -1; at = view.indexOf(DATA, at + 5)) {
      const sent = Number.parseFloat(view.toString('latin1', at + 5, Math.min(view.length, at + 30)));
      if (sampleCount < MAX_SAMPLES && sent > 0) samples[sampleCount++] = t - sent;
    }
  }
  return n;
}

function attach(socket, onReady) {
  let prevNL = false;
  const read = createBodyReader({
    onHead: (ok) => {
      if (!ok) socket.destroy();
      onReady(ok);
    },
    onBody: (buf, from, to) => {
      events += countEvents(buf, from, to, prevNL);
      prevNL = buf[to - 1] === 10;
    },
  });
  socket.on('data', (buf) => {
    read(buf);
    if (waiter !== null && events >= waiter.events) {
      process.send({ at: now() });
      waiter = null;
    }
  });
}

// With a source address of its own, the client names each source port itself: letting the
// kernel pick one (bind to port 0) costs a search that grows with the sockets already bound
// (about 1 ms of system time per connection at 100k here). Ports below the ephemeral range, so
// they never collide with ports the kernel hands out.
const FIRST_PORT = 10_000;
const LAST_PORT = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) - 1;
  } catch {
    return 32_767;
  }
})();
let nextPort = FIRST_PORT;
// At most WINDOW connection attempts in flight: a new one starts as soon as one finishes, so a
// SYN the kernel dropped (listen queue full; retried after 1 s) stalls one slot, not a batch.
const WINDOW = 128;
// Opens `count` more subscribers (all of <count> from the command line by default).
function connectAll(count) {
  let connected = 0;
  let failed = 0;
  let started = 0;
  return new Promise((done) => {
    const settle = (ok) => {
      ok ? connected++ : failed++;
      if (connected + failed === count) done({ connected, failed });
      else if (started < count) start();
    };
    const start = () => {
      started++;
      open();
    };
    const open = () => {
      let settled = false;
      const once = (ok) => {
        if (settled) return;
        settled = true;
        settle(ok);
      };
      const localPort = localAddress === undefined ? undefined : nextPort++;
      if (localPort > LAST_PORT) return once(false);
      const socket = connect({ port, host: '127.0.0.1', localAddress, localPort });
      socket.on('error', (error) => {
        // That port is taken on this address (a TIME_WAIT of an earlier run): the next one.
        if (error.code === 'EADDRINUSE' && error.syscall === 'bind' && !settled) {
          settled = true;
          open();
        } else {
          once(false);
        }
      });
      socket.on('close', () => once(false)); // no-op once the response head came
      socket.on('connect', () => socket.write(request));
      attach(socket, once);
      sockets.push(socket);
    };
    if (count === 0) done({ connected, failed });
    for (let i = 0; i < Math.min(WINDOW, count); i++) start();
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

process.on('message', async (m) => {
  if (m.cmd === 'connect') {
    process.send(await connectAll(m.count ?? count));
  } else if (m.cmd === 'reset') {
    events = 0;
    sampleCount = 0;
    latencyOn = m.latency === true;
    process.send({});
  } else if (m.cmd === 'report') {
    const sorted = samples.slice(0, sampleCount).sort();
    process.send({ events, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) });
  } else if (m.cmd === 'waitFor') {
    if (events >= m.events) process.send({ at: now() });
    else waiter = { events: m.events };
  } else if (m.cmd === 'close') {
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    process.send({});
  }
});
process.on('disconnect', () => process.exit(0)); // the parent is gone: never linger
process.send({ ready: true });
