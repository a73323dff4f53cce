// A Broker (see ssekit/hub) that keeps its history in a small journal file, so the demo's
// feed resumes across a real server restart: a page that reconnects with the Last-Event-ID it
// got from the previous process gets the events it missed, not a reset. Demo-grade on purpose
// (one process, whole journal in memory, bounded); production uses the Redis broker.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BrokerError, compareStreamIds, isStreamId, StreamIdGenerator } from '../dist/hub.js';

/**
 * @param {string} file journal path (NDJSON: a `{ "floor" }` line, then one event per line)
 * @param {{ maxEvents?: number }} [options] events kept; older ones are dropped and resuming
 *   from before them is reported as truncated, like every other broker.
 * @returns {Promise<import('../dist/hub.js').Broker>}
 */
export async function createJournalBroker(file, { maxEvents = 1000 } = {}) {
  const ids = new StreamIdGenerator();
  /** @type {import('../dist/hub.js').BrokerEvent[]} */
  let events = [];
  let floor = ids.start;
  try {
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    const head = JSON.parse(lines[0]);
    if (typeof head.floor === 'string' && isStreamId(head.floor)) floor = head.floor;
    for (const line of lines.slice(1)) {
      const event = JSON.parse(line);
      if (isStreamId(event.id) && Array.isArray(event.topics)) events.push(event);
    }
  } catch (error) {
    if (error?.code !== 'ENOENT') console.error(`journal ${file} unreadable, starting empty:`, error);
    await mkdir(dirname(file), { recursive: true });
    await rewrite();
  }
  // A clock that stepped back across the restart must not hand out ids below the journal's.
  const lastLoaded = events.at(-1)?.id;
  const feeds = new Set();
  let closed = false;
  let writes = Promise.resolve();

  async function rewrite() {
    const body = [JSON.stringify({ floor }), ...events.map((e) => JSON.stringify(e))].join('\n');
    await writeFile(file, `${body}\n`);
  }

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
      let trimmed = false;
      if (events.length > maxEvents) {
        floor = events[events.length - maxEvents - 1].id;
        events = events.slice(-maxEvents);
        trimmed = true;
      }
      // Writes are chained so the file keeps publish order; the publish resolves once its line is on disk.
      writes = writes.then(() => (trimmed ? rewrite() : appendFile(file, `${JSON.stringify(event)}\n`)));
      await writes;
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
      await writes;
    },
  };
}
