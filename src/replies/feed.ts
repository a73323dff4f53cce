/**
 * The one live feed of a process's replies (`Broker.subscribe` is called once, as the hub does):
 * which topics it follows, counted by reference, and which watchers get each event.
 *
 * A watcher follows topics before it reads their history (see `Broker.follow`: every event
 * published after `ready` settles reaches it), which is how readers close the seam between a
 * replay and the live events.
 */
import type { Broker, BrokerEvent, BrokerFeed } from '../hub/broker.js';
import { BrokerError } from '../hub/errors.js';

/** Gets the live events of the topics it follows. */
export interface Watcher {
  /** One event, once, even when it was published to several of the watcher's topics. */
  onEvent(event: BrokerEvent): void;
  /** The feed failed: events may have been missed. */
  onFeedError(error: unknown): void;
  /** Internal: the last event handed to this watcher (dedupes across its topics). */
  stamp?: number;
}

interface Topic {
  readonly watchers: Set<Watcher>;
  ready: Promise<void>;
}

/** A watcher's hold on its topics. */
export interface Following {
  /** Settles once the feed follows every topic (rejects with a `BrokerError` when it cannot). */
  readonly ready: Promise<void>;
  /** Stops following (idempotent). */
  release(): void;
}

export type RepliesFeed = ReturnType<typeof createFeed>;

export function createFeed(broker: Broker, onError: (error: unknown) => void, closing: () => boolean) {
  const topics = new Map<string, Topic>();
  let stamp = 0;

  const feed: BrokerFeed = broker.subscribe({
    onEvent(event) {
      const s = ++stamp;
      for (const name of event.topics) {
        const topic = topics.get(name);
        if (topic === undefined) continue;
        for (const watcher of topic.watchers) {
          if (watcher.stamp === s) continue;
          watcher.stamp = s;
          try {
            watcher.onEvent(event);
          } catch (error) {
            onError(error);
          }
        }
      }
    },
    onError(error) {
      onError(error);
      const all = new Set<Watcher>();
      for (const topic of topics.values()) for (const watcher of topic.watchers) all.add(watcher);
      for (const watcher of all) watcher.onFeedError(error);
    },
  });

  const follow = (names: readonly string[], watcher: Watcher): Following => {
    const waits: Promise<void>[] = [];
    for (const name of names) {
      let topic = topics.get(name);
      if (topic === undefined) {
        const created: Topic = { watchers: new Set(), ready: Promise.resolve() };
        created.ready = feed.follow([name]).catch((error: unknown) => {
          // Forget it, so the next watcher asks the feed again; the waiting ones get the error.
          if (topics.get(name) === created) topics.delete(name);
          throw new BrokerError('feed-failed', `the broker feed could not follow ${name}`, { cause: error });
        });
        created.ready.catch(() => {});
        topics.set(name, created);
        topic = created;
      }
      topic.watchers.add(watcher);
      waits.push(topic.ready);
    }
    let released = false;
    return {
      ready: Promise.all(waits).then(() => undefined),
      release() {
        if (released) return;
        released = true;
        for (const name of names) {
          const topic = topics.get(name);
          if (topic === undefined || !topic.watchers.delete(watcher) || topic.watchers.size > 0) continue;
          topics.delete(name);
          // Follow and unfollow apply in order (Broker contract), so a watcher that comes back
          // for this topic right away is followed again after this.
          feed.unfollow([name]).catch((error: unknown) => {
            if (!closing()) onError(error);
          });
        }
      },
    };
  };

  return {
    follow,
    close: (): Promise<void> => feed.close(),
  };
}
