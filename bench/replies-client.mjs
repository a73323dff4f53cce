// The readers of `npm run bench:replies`: raw TCP clients (no http module, no EventSource) that
// POST /chat?n=N, read the reply's events (`id:` and `data: t<i>` lines) until they have all N
// tokens and the response has ended (or END_GRACE_MS after the last token), and, when asked, drop the connection partway and resume it: a GET of the response's
// Content-Location with the last id seen as Last-Event-ID (after `gapMs` away, so the log holds
// tokens the client has not seen). The resume latency is from the reconnect's connect() to the
// first token of the new response. With `resume.fresh` (part 2's control, on a server that keeps
// nothing), a reader instead opens a new GET on a second connection at that time, and the latency
// is from its connect() to the first token of that new stream.
// Usage: node bench/replies-client.mjs
// IPC: {cmd:'run', port, replies, tokens, startSpreadMs, timeoutMs, resume: null | {fromMs, toMs, gapMs, fresh?}} ->
//      {done, failed, missing, repeated, samples, p50, p99, max, clientLoopP99, timeline}
// `timeline`: per resume [url, connect() called, socket connected, first token read], absolute ms
// (performance.timeOrigin + now(): the server stamps its side on the same clock, and the parent
// joins both by URL to say which leg a slow resume lost its time in).
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createBodyReader } from './lib/http-body-reader.mjs';

let port = 0; // the server of the current run
const now = () => performance.now();
const origin = performance.timeOrigin;
// How long a reader with every token waits for its response to end before it counts as done.
const END_GRACE_MS = 1000;
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * One reply read to its end. Resolves {ok, missing, repeated, latency}: latency of its resume
 * (ms) when it resumed.
 */
function session(n, resume, timeoutMs) {
  return new Promise((resolve) => {
    const seen = new Uint8Array(n);
    let distinct = 0;
    let repeated = 0;
    let lastId = '';
    let location = '';
    let socket = null;
    let latency;
    let timeline;
    let resumeTimer;
    let probe; // the control's GET (resume.fresh), while it runs
    let settled = false;
    const finish = (ok) => {
      if (settled) return;
      settled = true;
      clearTimeout(graceTimer);
      clearTimeout(resumeTimer);
      clearTimeout(deadline);
      socket?.destroy();
      // (the control's GET, when one is on its way, settles by itself, bounded by timeoutMs)
      Promise.resolve(probe).then(() => resolve({ ok, missing: n - distinct, repeated, latency, timeline }));
    };
    // Every token is here: the reader waits for the response to end (its `end` event may follow
    // the last token by a broker round trip), as a real client does; closing the connection at
    // the last token instead would make the server handle a client disconnect (its request's
    // signal aborted, its last writes failing) that EventSource and connect() never cause. A
    // response that does not end within END_GRACE_MS still counts as complete: every token came.
    let graceTimer;
    const allRead = () => {
      graceTimer ??= setTimeout(() => finish(true), END_GRACE_MS);
    };
    // `t0`: when this response's connect() was called (resume: the latency's start).
    const open = (request, t0, resumed) => {
      let line = '';
      let first = true;
      const s = connect({ port, host: '127.0.0.1' });
      socket = s;
      s.setNoDelay(true);
      let connected = Number.NaN;
      const onLine = (text) => {
        // A token is `data: t<i>`, or a UI message chunk `data: {"type":"text-delta",...,"delta":"t<i>"}` (bench:ai).
        const delta = text.startsWith('data: {"type":"text-delta"') ? text.indexOf('"delta":"t') : -1;
        if (text.startsWith('data: t') || delta !== -1) {
          if (resumed && first) {
            first = false;
            const t = now();
            latency = t - t0;
            timeline = [location, origin + t0, origin + connected, origin + t];
          }
          const i = delta === -1 ? Number(text.slice(7)) : Number.parseInt(text.slice(delta + 10), 10);
          if (seen[i] === 1) repeated++;
          else {
            seen[i] = 1;
            distinct++;
          }
        } else if (text.startsWith('id: ')) {
          lastId = text.slice(4);
        }
      };
      const read = createBodyReader({
        onHead: (ok, head) => {
          if (!ok) return finish(false);
          const m = /\r\ncontent-location: ([^\r]+)/i.exec(head);
          if (m) location = m[1];
        },
        onBody: (buf, from, to) => {
          const text = line + buf.toString('latin1', from, to);
          let at = 0;
          for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
            onLine(text.slice(at, nl));
            at = nl + 1;
          }
          line = text.slice(at);
          if (distinct === n) allRead();
        },
        // The response's end: a reader that has every token is done then, as EventSource and
        // connect() are (they read to the end of the response, not to the last token).
        onEnd: () => {
          if (distinct === n) finish(true);
        },
      });
      s.on('data', (buf) => {
        if (s === socket) read(buf);
      });
      s.on('error', () => {
        if (s === socket) finish(false);
      });
      s.on('close', () => {
        if (s === socket) finish(false);
      });
      s.on('connect', () => {
        connected = now();
        s.write(request);
      });
    };
    // Bounded: a reply that does not complete in time counts as failed.
    const deadline = setTimeout(() => finish(false), timeoutMs);
    open(`POST /chat?n=${n} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`, now(), false);
    if (resume?.fresh) {
      // The control (a server that keeps nothing): at the same random time, a new GET on a second
      // connection, this reply's own connection left as it is.
      const at = resume.fromMs + Math.random() * (resume.toMs - resume.fromMs);
      resumeTimer = setTimeout(() => {
        if (settled) return;
        probe = fresh(`/fresh/${Math.random().toString(36).slice(2)}`, timeoutMs).then((t) => {
          timeline = t;
          latency = t === undefined ? undefined : t[3] - t[1];
        });
      }, at);
    } else if (resume !== null) {
      const at = resume.fromMs + Math.random() * (resume.toMs - resume.fromMs);
      resumeTimer = setTimeout(() => {
        if (settled || location === '') return;
        const old = socket;
        socket = null;
        old.destroy();
        setTimeout(() => {
          if (settled) return;
          const idHeader = lastId === '' ? '' : `Last-Event-ID: ${lastId}\r\n`;
          open(`GET ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\n${idHeader}\r\n`, now(), true);
        }, resume.gapMs);
      }, at);
    }
  });
}

/**
 * Part (2)'s control: a GET of a new stream whose first token the server has at once. Resolves
 * the timeline entry of a resume ([url, connect() called, connected, first token read], absolute
 * ms), or undefined when no token came before `timeoutMs`.
 */
function fresh(url, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = now();
    let connected = Number.NaN;
    let text = '';
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    const done = (entry) => {
      clearTimeout(timer);
      s.destroy();
      resolve(entry);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const read = createBodyReader({
      onHead: (ok) => {
        if (!ok) done(undefined);
      },
      onBody: (buf, from, to) => {
        text += buf.toString('latin1', from, to);
        if (text.includes('data: t')) done([url, origin + t0, origin + connected, origin + now()]);
      },
    });
    s.on('data', read);
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
    s.on('connect', () => {
      connected = now();
      s.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
  });
}

// This process's event loop delay: a latency is only as good as the reader's loop is free.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

process.on('message', async (m) => {
  if (m.cmd !== 'run') return;
  port = m.port;
  loopDelay.reset();
  const runs = [];
  for (let i = 0; i < m.replies; i++) {
    runs.push(
      new Promise((r) => setTimeout(r, (i / m.replies) * m.startSpreadMs)).then(() =>
        session(m.tokens, m.resume, m.timeoutMs),
      ),
    );
  }
  const results = await Promise.all(runs);
  const latencies = Float64Array.from(
    results.filter((r) => r.latency !== undefined).map((r) => r.latency),
  ).sort();
  process.send({
    done: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).length,
    missing: results.reduce((s, r) => s + r.missing, 0),
    repeated: results.reduce((s, r) => s + r.repeated, 0),
    samples: latencies.length,
    p50: latencies.length ? quantile(latencies, 0.5) : Number.NaN,
    p99: latencies.length ? quantile(latencies, 0.99) : Number.NaN,
    max: latencies.length ? latencies[latencies.length - 1] : Number.NaN,
    clientLoopP99: loopDelay.percentile(99) / 1e6,
    timeline: results.filter((r) => r.timeline !== undefined).map((r) => r.timeline),
  });
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
