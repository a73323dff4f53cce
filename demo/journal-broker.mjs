// A Broker (see ssekit/hub) that keeps its history in a small journal file, so the demo's
// feed resumes across a real server restart: a page that reconnects with the Last-Event-ID it
// got from the previous process gets the events it missed, not a reset. Demo-grade on purpose
// (one process, whole journal in memory, bounded); production uses the Redis broker.
//
// The file is append-only: a publish appends its one line, so its cost does not grow with the
// history (rewriting the whole file on every publish cost 2.4 ms a publish at 2,000 events, the
// append costs 0.1 ms: node bench/demo-journal.mjs). Lines of events that history no longer
// keeps pile up at the front; when the file holds more than twice what history keeps, it is
// compacted in the background (the kept events written to a temporary file, which is renamed
// over the journal), so the file stays bounded and no publish waits for a rewrite.
import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';
import { BrokerError, compareStreamIds, isStreamId, StreamIdGenerator } from '../dist/hub.js';

/**
 * @typedef {object} JournalBrokerOptions
 * @property {number} [maxEvents] events kept (default 1,000); older ones are dropped and resuming
 *   from before them is reported as truncated, like every other broker.
 * @property {(error: unknown) => void} [onError] what went wrong without stopping the broker: a
 *   journal that could not be read or had lines it skipped (a torn last line after a crash), a
 *   compaction that failed (the journal stays as it was and grows until a later one succeeds).
 *   Default `console.error`.
 * @property {Pick<typeof fs, 'appendFile' | 'mkdir' | 'readFile' | 'rename' | 'rm' | 'writeFile'>} [fs]
 *   the file functions used (tests pass slowed or failing ones). Default `node:fs/promises`.
 */

/**
 * @param {string} file journal path (NDJSON: a `{ "floor" }` line, then one event per line)
 * @param {JournalBrokerOptions} [options]
 * @returns {Promise<import('../dist/hub.js').Broker>}
 */
export async function createJournalBroker(file, options = {}) {
  const maxEvents = options.maxEvents ?? 1000;
  const onError = options.onError ?? ((error) => console.error(`journal ${file}:`, error));
  const io = options.fs ?? fs;
  const temporary = `${file}.tmp`;
  const ids = new StreamIdGenerator();

  /** @type {import('../dist/hub.js').BrokerEvent[]} */
  let events = [];
  let floor = ids.start;
  let text = '';
  try {
    text = await io.readFile(file, 'utf8');
  } catch (error) {
    if (error?.code !== 'ENOENT') onError(error);
    await io.mkdir(dirname(file), { recursive: true });
  }
  ({ events, floor } = load(text, floor, maxEvents, (message) => onError(new Error(message))));
  // One rewrite at start: it drops a torn last line (a crash mid-append), which the next append
  // would otherwise extend into a line that is garbage in the middle of the file.
  await io.writeFile(temporary, snapshot(floor, events));
  await io.rename(temporary, file);

  // A clock that stepped back across the restart must not hand out ids below the journal's.
  const lastLoaded = events.at(-1)?.id;
  const feeds = new Set();
  let closed = false;

  // Every operation on the journal's path runs on this chain, one at a time, so appends land in
  // publish order and never interleave with the rename that ends a compaction.
  let chain = Promise.resolve();
  const serial = (task) => {
    const run = chain.then(task);
    chain = run.catch(() => {});
    return run;
  };
  // Lines published but not yet appended, written together by one append (a burst is one write).
  /** @type {string[]} */
  let pending = [];
  /** @type {{ resolve: () => void, reject: (error: unknown) => void }[]} */
  let waiting = [];
  let linesInFile = events.length;
  let compactAt = 2 * maxEvents;
  /** @type {Promise<void> | null} */
  let compaction = null;
  /**
   * Lines appended while a compaction writes its snapshot: they go after it in the new file.
   * @type {string[] | null}
   */
  let carried = null;

  const flush = async () => {
    const lines = pending;
    const waiters = waiting;
    pending = [];
    waiting = [];
    try {
      await io.appendFile(file, lines.join(''));
    } catch (error) {
      for (const w of waiters) w.reject(error);
      return;
    }
    linesInFile += lines.length;
    carried?.push(...lines);
    for (const w of waiters) w.resolve();
    if (compaction === null && !closed && linesInFile > compactAt) {
      compaction = compact()
        .catch(onError)
        .finally(() => {
          compaction = null;
        });
    }
  };

  const append = (line) =>
    new Promise((resolve, reject) => {
      pending.push(line);
      waiting.push({ resolve, reject });
      if (pending.length === 1) void serial(flush);
    });

  const compact = async () => {
    let body = '';
    let kept = 0;
    // Taken between two appends: the events whose lines are in the file (the newest `pending`
    // ones are not yet, and will be carried over).
    await serial(() => {
      const written = events.slice(0, Math.max(0, events.length - pending.length));
      body = snapshot(floor, written);
      kept = written.length;
      carried = [];
    });
    try {
      // The long part, off the chain: publishes keep appending to the old file meanwhile.
      await io.writeFile(temporary, body);
      await serial(async () => {
        if (carried.length > 0) await io.appendFile(temporary, carried.join(''));
        await io.rename(temporary, file);
        linesInFile = kept + carried.length;
      });
      compactAt = 2 * maxEvents;
    } catch (error) {
      // Try again once as many lines again have been appended, not on every publish.
      compactAt = linesInFile + maxEvents;
      onError(error);
      await io.rm(temporary, { force: true }).catch(() => {});
    } finally {
      carried = null;
    }
  };

  const nextId = () => {
    let id = ids.next();
    while (lastLoaded !== undefined && compareStreamIds(id, lastLoaded) <= 0) id = ids.next();
    return id;
  };

  return {
    async publish(topics, init) {
      if (closed) throw new BrokerError('closed', 'the broker is closed');
      const event = { id: nextId(), topics: [...topics], event: init.event, data: init.data };
      events.push(event);
      if (events.length > maxEvents) {
        floor = events[events.length - maxEvents - 1].id;
        events = events.slice(-maxEvents);
      }
      // The publish resolves once its line is in the file.
      await append(`${JSON.stringify(event)}\n`);
      for (const feed of feeds) {
        if (!event.topics.some((t) => feed.topics.has(t))) continue;
        try {
          feed.listener.onEvent(event);
        } catch (error) {
          feed.listener.onError(new BrokerError('feed-failed', 'a feed listener threw', { cause: error }));
        }
      }
      return event.id;
    },
    async history(topics, afterId, options = {}) {
      const head = events.at(-1)?.id ?? floor;
      if (!isStreamId(afterId)) return { events: [], more: false, truncated: true, head };
      const wanted = new Set(topics);
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      const found = events.filter(
        (e) => compareStreamIds(e.id, afterId) > 0 && e.topics.some((t) => wanted.has(t)),
      );
      return {
        events: found.slice(0, limit),
        more: found.length > limit,
        truncated: compareStreamIds(afterId, floor) < 0,
        head,
      };
    },
    subscribe(listener) {
      const feed = { listener, topics: new Set() };
      feeds.add(feed);
      return {
        async follow(topics) {
          for (const t of topics) feed.topics.add(t);
        },
        async unfollow(topics) {
          for (const t of topics) feed.topics.delete(t);
        },
        async close() {
          feeds.delete(feed);
        },
      };
    },
    compareIds: compareStreamIds,
    isValidId: isStreamId,
    async close() {
      closed = true;
      feeds.clear();
      await compaction;
      await serial(() => {});
    },
  };
}

/** The journal's text for `events` after `floor`. */
function snapshot(floor, events) {
  return `${[JSON.stringify({ floor }), ...events.map((e) => JSON.stringify(e))].join('\n')}\n`;
}

/**
 * Reads a journal's text: a `{ "floor" }` first line, then events in id order. Only
 * complete lines count: the text after the last newline is a torn append, and is ignored like any
 * line that does not parse. When the journal holds more than `maxEvents`, the oldest are dropped
 * and the floor rises to the last one dropped, as it did when they were dropped in memory.
 */
function load(text, start, maxEvents, warn) {
  let floor = start;
  const events = [];
  const lines = text.split('\n');
  if (lines.pop() !== '') warn('ignored a torn last line (the process stopped mid-append)');
  let skipped = 0;
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    if (i === 0 && typeof value?.floor === 'string' && isStreamId(value.floor)) {
      floor = value.floor;
    } else if (
      typeof value?.id === 'string' &&
      isStreamId(value.id) &&
      Array.isArray(value.topics) &&
      value.topics.every((t) => typeof t === 'string') &&
      typeof value.data === 'string' &&
      (events.length === 0 || compareStreamIds(value.id, events.at(-1).id) > 0)
    ) {
      events.push(value);
    } else {
      skipped++;
    }
  }
  if (skipped > 0) warn(`skipped ${skipped} unreadable line(s)`);
  if (events.length > maxEvents) {
    floor = events[events.length - maxEvents - 1].id;
    events.splice(0, events.length - maxEvents);
  }
  return { events, floor };
}
