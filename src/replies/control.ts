/**
 * What any instance can learn of a reply, and do to it, through the broker alone: whether it
 * exists and has ended (the short history of its control topic), and stopping it wherever its
 * producer runs. Nothing here needs to know which instance that is.
 */
import type { Broker } from '../hub/broker.js';
import type { RepliesFeed } from './feed.js';
import {
  END_EVENT,
  type EndReason,
  endData,
  endReasonOf,
  LOG_START,
  OPEN_MARK,
  type ReplyTopics,
  STOP_MARK,
} from './log.js';

export interface ReplyState {
  /** The open marker is there: the reply was started (and not yet dropped). */
  exists: boolean;
  /** Its first end event, if it has ended. */
  end: { id: string; reason: EndReason } | null;
  /** The broker's newest id when the state was read: a Last-Event-ID above it was never assigned. */
  head: string;
}

/** Reads the control topic: the open marker, stop requests, reading notices and the end. */
export async function readState(broker: Broker, topics: ReplyTopics, pageSize: number): Promise<ReplyState> {
  const state: ReplyState = { exists: false, end: null, head: LOG_START };
  let after = LOG_START;
  for (;;) {
    const page = await broker.history([topics.control], after, { limit: pageSize });
    state.head = page.head;
    for (const event of page.events) {
      if (event.event === OPEN_MARK) state.exists = true;
      else if (event.event === END_EVENT && state.end === null) {
        state.end = { id: event.id, reason: endReasonOf(event.data) };
      }
    }
    const last = page.events[page.events.length - 1];
    if (!page.more || last === undefined) return state;
    after = last.id;
  }
}

export interface StopOptions {
  readonly broker: Broker;
  readonly feed: RepliesFeed;
  readonly pageSize: number;
  /** How long to wait for the producer's instance to write the end. */
  readonly stopTimeout: number;
  /** Whether an ended reply is past its retention (then it is unknown). */
  readonly expired: (endId: string) => boolean;
}

/**
 * Stops a reply wherever its producer runs: a stop request on its control topic, which the
 * producer's instance follows; it aborts the producer and writes the end. When no end comes
 * within `stopTimeout` (the instance is gone, or stuck), the end is written here: readers stop
 * at the first end, so a late second one is harmless.
 */
export async function stopReply(
  topics: ReplyTopics,
  options: StopOptions,
): Promise<'stopped' | 'ended' | 'unknown'> {
  const { broker } = options;
  let onEnd!: () => void;
  const endSeen = new Promise<boolean>((resolve) => {
    onEnd = () => resolve(true);
  });
  // Followed before the state is read: an end published in between is not missed.
  const following = options.feed.follow([topics.control], {
    onEvent: (event) => {
      if (event.event === END_EVENT) onEnd();
    },
    onFeedError: () => {},
  });
  try {
    await following.ready;
    const state = await readState(broker, topics, options.pageSize);
    if (!state.exists || (state.end !== null && options.expired(state.end.id))) return 'unknown';
    if (state.end !== null) return 'ended';
    await broker.publish([topics.control], { event: STOP_MARK, data: '' });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const confirmed = await Promise.race([
      endSeen,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), options.stopTimeout);
      }),
    ]);
    clearTimeout(timer);
    if (!confirmed) {
      await broker.publish([topics.log, topics.control], { event: END_EVENT, data: endData('stopped') });
    }
    return 'stopped';
  } finally {
    following.release();
  }
}
