/**
 * What the process can hold: each open stream is a socket, and a socket is a file descriptor.
 * Past the open-files limit a server cannot accept a connection at all, not even to refuse it
 * with 503 or to answer a health check, so subscriber limits are derived from it.
 */
import { readFileSync } from 'node:fs';
import { checkNumber } from '../../server/options.js';

/**
 * The process's open-files limit (the soft `RLIMIT_NOFILE`, which node raises to the hard limit
 * at startup), read from `/proc/self/limits` on Linux. `undefined` elsewhere, or when it is
 * unlimited or unreadable.
 *
 * @example
 * ```ts
 * import { openFilesLimit } from 'ssekit/node';
 * openFilesLimit(); // 1048576 on a typical Linux server; `ulimit -n 200` -> 200
 * ```
 */
export function openFilesLimit(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  // "Max open files            1024                 1048576              files"
  const match = /^Max open files\s+(\d+)\s/m.exec(text);
  if (match === null) return undefined;
  const limit = Number(match[1]);
  return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined;
}

/** Options of {@link subscriberCapacity}. */
export interface SubscriberCapacityOptions {
  /** The open-files limit to plan for. Default {@link openFilesLimit}. */
  openFiles?: number;
  /**
   * Descriptors kept for everything else: the listening socket, requests that are not streams
   * (publishes, health checks, the 503s themselves), Redis, files, node's own. Default 10% of
   * `openFiles`, at least 64, at most half of it.
   */
  reserve?: number;
  /**
   * The most subscribers whatever the limit allows: memory is the other bound. Default 10,000,
   * the hub's own default; `Infinity` for descriptors alone.
   */
  max?: number;
}

const count = (name: string, value: number, min: 0 | 1): number =>
  checkNumber(name, value, { min, unbounded: true });

/**
 * How many subscribers this process can hold and still answer everyone else: the open-files
 * limit minus a reserve, capped at `max`. Use it as the hub's `limits.maxSubscribers`, so a flood
 * is refused with `503` and `Retry-After` instead of connection resets, and `/healthz` still
 * answers. `max` when the limit is unknown (not Linux). At least 1.
 *
 * @example
 * ```ts
 * import { createHub } from 'ssekit/hub';
 * import { subscriberCapacity } from 'ssekit/node';
 *
 * const hub = createHub({ limits: { maxSubscribers: subscriberCapacity() } });
 * // Under `ulimit -n 1024`: 1024 - 103 = 921 subscribers.
 * ```
 */
export function subscriberCapacity(options: SubscriberCapacityOptions = {}): number {
  const max = count('max', options.max ?? 10_000, 1);
  const openFiles =
    options.openFiles === undefined ? openFilesLimit() : count('openFiles', options.openFiles, 1);
  if (openFiles === undefined || !Number.isFinite(openFiles)) return max;
  const reserve =
    options.reserve === undefined
      ? Math.min(Math.floor(openFiles / 2), Math.max(64, Math.ceil(openFiles / 10)))
      : count('reserve', options.reserve, 0);
  return Math.max(1, Math.min(max, openFiles - reserve));
}
