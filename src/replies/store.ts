/**
 * What this instance keeps track of for the replies it started: the bytes their logs take in
 * the broker (`maxStoredBytes`: finished replies are dropped oldest first to make room), and
 * the claims of Idempotency-Keys when the broker has no `claim()` of its own.
 */
import type { Broker } from '../hub/broker.js';
import type { ReplyTopics } from './log.js';

/** Counted per reply on top of its events: bounds the number of tiny replies kept. */
export const REPLY_OVERHEAD = 1024;
/** Most Idempotency-Keys claimed in this process (without a broker `claim()`); the oldest go first. */
const MAX_LOCAL_CLAIMS = 100_000;

/** What the store counts for one reply: `add` hands it out, and `grow` takes it back. */
export interface Stored {
  bytes: number;
  endedAt: number | null;
  readonly topics: ReplyTopics;
}

export interface StoreOptions {
  readonly broker: Broker;
  readonly maxStoredBytes: number;
  readonly retention: number;
  readonly idempotencyTtl: number;
  readonly topicPrefix: string;
  readonly now: () => number;
  readonly onError: (error: unknown) => void;
}

const all = (topics: ReplyTopics): string[] => [topics.log, topics.control, topics.alive];

export function createStore(options: StoreOptions) {
  const { broker, now, onError } = options;
  // Map order is start order: the oldest finished reply is the first one found.
  const stored = new Map<string, Stored>();
  const claims = new Map<string, { value: string; until: number }>();
  let bytes = 0;

  const forget = (id: string, record: Stored): void => {
    stored.delete(id);
    bytes -= record.bytes;
  };

  // No getters here: an object literal with one is a dictionary in V8, and `grow` is called for
  // every event a reply sends.
  return {
    /** Bytes of every reply kept. */
    totalBytes(): number {
      return bytes;
    },

    /** Drops finished replies, oldest first, until a new one fits. False when it cannot. */
    makeRoom(): boolean {
      if (bytes + REPLY_OVERHEAD <= options.maxStoredBytes) return true;
      if (broker.expire === undefined) return false;
      for (const [id, record] of stored) {
        if (record.endedAt === null) continue;
        forget(id, record);
        broker.expire(all(record.topics), 0).catch(onError);
        if (bytes + REPLY_OVERHEAD <= options.maxStoredBytes) return true;
      }
      return false;
    },

    add(id: string, topics: ReplyTopics): Stored {
      const record: Stored = { bytes: REPLY_OVERHEAD, endedAt: null, topics };
      stored.set(id, record);
      bytes += REPLY_OVERHEAD;
      return record;
    },

    /**
     * The reply of `record` (what `add` returned for it) stored `size` bytes more. Only a running
     * reply grows, and only a finished one is forgotten: no lookup is needed to know it counts.
     */
    grow(record: Stored | undefined, size: number): void {
      if (record === undefined) return;
      record.bytes += size;
      bytes += size;
    },

    /** The reply ended: the broker drops its log a little after the retention (its end's id says 404 first). */
    ended(id: string, topics: ReplyTopics): void {
      const record = stored.get(id);
      if (record !== undefined) record.endedAt = now();
      broker.expire?.(all(topics), options.retention + Math.min(options.retention, 60_000)).catch(onError);
    },

    /** Sets the key to `id` unless it names a reply already; resolves with the reply it names. */
    claim(key: string, id: string): Promise<string> {
      const name = `${options.topicPrefix}key/${key}`;
      if (broker.claim !== undefined) return broker.claim(name, id, options.idempotencyTtl);
      // No claim() on this broker: joins work within this process only.
      const time = now();
      const held = claims.get(name);
      if (held !== undefined && held.until > time) return Promise.resolve(held.value);
      claims.delete(name);
      claims.set(name, { value: id, until: time + options.idempotencyTtl });
      if (claims.size > MAX_LOCAL_CLAIMS) claims.delete(claims.keys().next().value as string);
      return Promise.resolve(id);
    },

    /** Forgets replies past their retention and expired claims. */
    sweep(time: number): void {
      for (const [id, record] of stored) {
        if (record.endedAt !== null && time - record.endedAt >= options.retention) forget(id, record);
      }
      for (const [name, held] of claims) if (held.until <= time) claims.delete(name);
    },
  };
}
