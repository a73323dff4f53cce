/**
 * What happens with time, on one timer for the whole instance (not one per reply): producers'
 * heartbeats, readers giving up on a lost producer, idle replies stopped, notices that a reply
 * is still read (for the producer's instance, wherever it is), and retention.
 */
import type { Broker } from '../hub/broker.js';
import { END_EVENT, endData, READING_MARK } from './log.js';
import type { ReplyWatch } from './reader.js';
import type { Run } from './run.js';
import type { createStore } from './store.js';

export interface UpkeepOptions {
  readonly broker: Broker;
  readonly running: ReadonlyMap<string, Run>;
  readonly watches: ReadonlyMap<string, ReplyWatch>;
  readonly store: ReturnType<typeof createStore>;
  readonly producerHeartbeat: number;
  readonly producerLostAfter: number;
  readonly idleStopAfter: number | false;
  readonly now: () => number;
  readonly onError: (error: unknown) => void;
  /** This instance declared a producer lost. */
  readonly onLost: () => void;
}

export function createUpkeep(options: UpkeepOptions) {
  const { broker, running, watches, store, producerLostAfter, idleStopAfter, now, onError } = options;
  const tickEvery = Math.max(
    10,
    Math.min(
      options.producerHeartbeat,
      producerLostAfter / 4,
      idleStopAfter === false ? 60_000 : idleStopAfter / 3,
    ),
  );
  let lastTick = now();

  /**
   * Ends a reply whose producer went silent: an `end` with reason `producer-lost` on its log and
   * control topic, as any instance may write it. Readers everywhere stop at the first end; the
   * producer's instance, if it was only cut off, stops its producer when it sees it.
   */
  const declareLost = (watch: ReplyWatch): void => {
    watch.declared = true;
    options.onLost();
    const { log, control } = watch.topics;
    broker
      .publish([log, control], { event: END_EVENT, data: endData('producer-lost') })
      .catch((error: unknown) => {
        // The broker is away too: readers end with a retry hint and ask again later.
        onError(error);
        watch.declared = false;
        for (const reader of [...watch.readers]) reader.cut();
      });
  };

  const tick = (): void => {
    const time = now();
    // This process's event loop was blocked (a long synchronous task): what producers sent
    // meanwhile may still wait in the socket. Give every reply a fresh window, not a verdict.
    const blocked = time - lastTick > 2 * tickEvery + 50;
    lastTick = time;
    for (const run of running.values()) {
      run.heartbeat(time);
      if (idleStopAfter === false) continue;
      if (run.readersHere > 0) run.lastRead = time;
      else if (time - run.lastRead > idleStopAfter) void run.stop('idle');
    }
    for (const watch of watches.values()) {
      if (watch.end !== null || watch.readers.size === 0) continue;
      const here = running.has(watch.id);
      if (here || blocked) watch.lastSeen = time;
      else if (!watch.declared && time - watch.lastSeen > producerLostAfter) declareLost(watch);
      if (idleStopAfter !== false && !here && time - watch.lastNotice >= idleStopAfter / 3) {
        watch.lastNotice = time;
        broker.publish([watch.topics.control], { event: READING_MARK, data: '' }).catch(onError);
      }
    }
    store.sweep(time);
  };

  const timer = setInterval(tick, tickEvery);
  // Replies alone must not keep a process alive.
  (timer as { unref?: () => void }).unref?.();

  return {
    stop(): void {
      clearInterval(timer);
    },
  };
}
