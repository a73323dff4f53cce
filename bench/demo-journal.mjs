/**
 * node bench/demo-journal.mjs   (after `npm run build`)
 *
 * The demo's journal broker under a full history: the latency of one publish once the journal
 * holds `--events` events (default 2,000, what the demo keeps), timed two ways, one publish at a
 * time: the broker's own `publish` (the file write and nothing else of note), and a `POST /hub`
 * to a running demo server (what the feed page and `ssekit publish` wait for). Prints the median
 * and p99 of `--publishes` publishes (default 500) and the journal's size at the end.
 *
 * Options: --events N, --publishes N.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJournalBroker } from '../demo/journal-broker.mjs';
import { startDemo } from '../demo/server.mjs';
import { option } from './lib/options.mjs';

const EVENTS = Number(option('--events', 2000));
const PUBLISHES = Number(option('--publishes', 500));
const DATA = 'an event of about the size a feed post has, a line of text';

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const report = (name, times, file) => {
  const sorted = [...times].sort((a, b) => a - b);
  const kib = (statSync(file).size / 1024).toFixed(0);
  console.log(
    `${name.padEnd(28)} median ${quantile(sorted, 0.5).toFixed(3)} ms  p99 ${quantile(sorted, 0.99).toFixed(3)} ms  journal ${kib} KiB`,
  );
};

const dir = mkdtempSync(join(tmpdir(), 'ssekit-journal-bench-'));
try {
  {
    const file = join(dir, 'broker.ndjson');
    const broker = await createJournalBroker(file, { maxEvents: EVENTS });
    for (let i = 0; i < EVENTS; i++) await broker.publish(['feed'], { event: 'post', data: DATA });
    const times = [];
    for (let i = 0; i < PUBLISHES; i++) {
      const start = performance.now();
      await broker.publish(['feed'], { event: 'post', data: DATA });
      times.push(performance.now() - start);
    }
    report('broker.publish', times, file);
    await broker.close();
  }
  {
    // startDemo keeps 2,000 events whatever --events says; fill it to what it keeps.
    const demo = await startDemo({ port: 0, host: '127.0.0.1', dataDir: dir, log: () => {} });
    for (let i = 0; i < Math.max(EVENTS, 2000); i++)
      await demo.hub.publish('feed', { event: 'post', data: DATA });
    const body = JSON.stringify({ topic: 'feed', event: 'post', data: DATA });
    const times = [];
    for (let i = 0; i < PUBLISHES; i++) {
      const start = performance.now();
      const response = await fetch(`${demo.url}/hub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await response.arrayBuffer();
      times.push(performance.now() - start);
      if (!response.ok) throw new Error(`POST /hub answered ${response.status}`);
    }
    report('POST /hub (demo server)', times, join(dir, 'feed.ndjson'));
    await demo.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
