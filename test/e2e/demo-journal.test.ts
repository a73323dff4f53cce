// The demo's journal broker (demo/journal-broker.mjs): an append-only file, loaded back on
// start (a torn last line ignored), compacted in the background.

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJournalBroker } from '../../demo/journal-broker.mjs';
import { deferred } from '../helpers/server.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssekit-journal-'));
  file = join(dir, 'feed.ndjson');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Broker = Awaited<ReturnType<typeof createJournalBroker>>;

const publishN = async (broker: Broker, n: number, from = 0) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push(await broker.publish(['feed'], { event: 'post', data: `e${from + i}` }));
  return ids;
};
/** Ids of every event the broker keeps after `afterId`, and whether it reports a gap. */
const kept = async (broker: Broker, afterId: string) => {
  const page = await broker.history(['feed'], afterId);
  return { ids: page.events.map((e: { id: string }) => e.id), truncated: page.truncated };
};
const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const quiet = { onError: () => {} };

describe('demo journal', () => {
  it('a publish appends its one line: the bytes already in the file stay as they were', async () => {
    const broker = await createJournalBroker(file, { maxEvents: 5 });
    await publishN(broker, 5);
    const before = readFileSync(file);
    const inode = statSync(file).ino;
    // History is full: this publish drops the oldest event, which still costs one append only.
    const id = await broker.publish(['feed'], { event: 'post', data: 'sixth' });
    const after = readFileSync(file);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    const added = after.subarray(before.length).toString('utf8');
    expect(added.endsWith('\n')).toBe(true);
    expect(added.slice(0, -1).includes('\n')).toBe(false);
    expect(JSON.parse(added)).toEqual({ id, topics: ['feed'], event: 'post', data: 'sixth' });
    expect(statSync(file).ino).toBe(inode);
    await broker.close();
  });

  it('what was kept survives a restart, and the dropped events are reported as a gap', async () => {
    const first = await createJournalBroker(file, { maxEvents: 5 });
    const ids = await publishN(first, 8);
    await first.close();
    const second = await createJournalBroker(file, { maxEvents: 5 });
    expect(await kept(second, ids[2]!)).toEqual({ ids: ids.slice(3), truncated: false });
    expect((await kept(second, ids[1]!)).truncated).toBe(true);
    // Ids go on from the journal's, not from the new process's clock.
    const next = await second.publish(['feed'], { data: 'after the restart' });
    expect(second.compareIds(next, ids[7]!)).toBeGreaterThan(0);
    await second.close();
  });

  it('a torn last line (a crash mid-append) is ignored on load, and the next append starts a fresh line', async () => {
    const first = await createJournalBroker(file, { maxEvents: 10 });
    const ids = await publishN(first, 3);
    await first.close();
    // The process died while appending a fourth line.
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"id":"9999999999999-0","topics":["fe`);
    const errors: unknown[] = [];
    const second = await createJournalBroker(file, {
      maxEvents: 10,
      onError: (e: unknown) => errors.push(e),
    });
    expect(errors).toHaveLength(1);
    expect(await kept(second, ids[0]!)).toEqual({ ids: ids.slice(1), truncated: false });
    const fourth = await second.publish(['feed'], { data: 'after the crash' });
    await second.close();
    const third = await createJournalBroker(file, { maxEvents: 10 });
    expect(await kept(third, ids[0]!)).toEqual({ ids: [...ids.slice(1), fourth], truncated: false });
    expect(lines().every((line) => JSON.parse(line))).toBe(true);
    await third.close();
  });

  it('compacts once the file holds more than twice what history keeps: a new file with what is kept', async () => {
    const broker = await createJournalBroker(file, { maxEvents: 10 });
    const inode = statSync(file).ino;
    const ids = await publishN(broker, 20);
    expect(lines()).toHaveLength(21); // the floor line and 20 events: not yet over twice 10
    expect(statSync(file).ino).toBe(inode);
    ids.push(...(await publishN(broker, 1, 20)));
    await broker.close(); // waits for the compaction the 21st line started
    expect(statSync(file).ino).not.toBe(inode); // renamed over, not rewritten in place
    expect(
      lines()
        .slice(1)
        .map((line) => JSON.parse(line).id),
    ).toEqual(ids.slice(11));
    const reopened = await createJournalBroker(file, { maxEvents: 10 });
    expect(await kept(reopened, ids[10]!)).toEqual({ ids: ids.slice(11), truncated: false });
    expect((await kept(reopened, ids[9]!)).truncated).toBe(true);
    await reopened.close();
  });

  it('stays bounded however much is published', async () => {
    const broker = await createJournalBroker(file, { maxEvents: 10 });
    let most = 0;
    for (let i = 0; i < 200; i++) {
      await publishN(broker, 1, i);
      most = Math.max(most, lines().length);
    }
    await broker.close();
    // Twice what is kept, the floor line, and the few appended while a compaction runs.
    expect(most).toBeLessThanOrEqual(2 * 10 + 1 + 5);
  });

  it('publishes do not wait for a compaction, and what they append meanwhile is carried into the new file', async () => {
    const release = deferred();
    let compacting = false;
    let held = 0;
    const slow = {
      ...fs,
      writeFile: async (...args: Parameters<typeof fs.writeFile>) => {
        // The start's rewrite goes through; the compaction's waits until released.
        if (compacting) {
          held++;
          await release.promise;
        }
        return fs.writeFile(...args);
      },
    };
    const broker = await createJournalBroker(file, { maxEvents: 10, fs: slow });
    compacting = true;
    const ids = await publishN(broker, 21); // the 21st line starts a compaction, which stalls
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('publishes waited for the compaction')), 5000);
    });
    try {
      ids.push(...(await Promise.race([publishN(broker, 5, 21), stalled])));
    } finally {
      clearTimeout(timer);
    }
    expect(held).toBe(1);
    const appended = lines().length;
    release.resolve();
    await broker.close();
    expect(appended).toBe(1 + 26); // all went to the old file while the new one was written
    // The new file: the snapshot, then the lines carried over; each event once, in order, the
    // newest last (its first lines may be older than what history keeps: loading drops them).
    const written = lines()
      .slice(1)
      .map((line) => JSON.parse(line).id);
    expect(written.length).toBeGreaterThanOrEqual(10);
    expect(written).toEqual(ids.slice(-written.length));
    const reopened = await createJournalBroker(file, { maxEvents: 10 });
    expect(await kept(reopened, ids[15]!)).toEqual({ ids: ids.slice(16), truncated: false });
    expect((await kept(reopened, ids[14]!)).truncated).toBe(true);
    await reopened.close();
  });

  it('a compaction that fails is reported, leaves the journal whole, and is tried again later', async () => {
    let renames = 0;
    const broken = {
      ...fs,
      rename: async (...args: Parameters<typeof fs.rename>) => {
        // The first rename is the start's rewrite; the second ends the first compaction.
        if (++renames === 2) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
        return fs.rename(...args);
      },
    };
    const errors: unknown[] = [];
    const broker = await createJournalBroker(file, {
      maxEvents: 10,
      fs: broken,
      onError: (e: unknown) => errors.push(e),
    });
    const ids = await publishN(broker, 21);
    await expect.poll(() => errors.length).toBe(1);
    expect(readdirSync(dir)).toEqual(['feed.ndjson']); // its temporary file is removed
    expect(lines()).toHaveLength(22); // nothing lost
    // Not retried on the next publish, but once as many lines again are in the file.
    ids.push(...(await publishN(broker, 10, 21)));
    expect(renames).toBe(2);
    ids.push(...(await publishN(broker, 1, 31)));
    await broker.close();
    expect(renames).toBe(3);
    expect(lines()).toHaveLength(11);
    const reopened = await createJournalBroker(file, { maxEvents: 10, ...quiet });
    expect(await kept(reopened, ids[21]!)).toEqual({ ids: ids.slice(22), truncated: false });
    await reopened.close();
  });
});
