/**
 * The records the hub's parts share: its counters, and a subscriber, its topics and its group
 * as the fan-out (fanout.ts), the replay (replay.ts) and the HTTP side (http.ts) see them.
 */
import type { BrokerEvent } from './broker.js';
import type { Outlet } from './outlet.js';

/** The hub's counters (see `HubMetrics`), shared by its parts. */
export interface HubCounters {
  eventsPublished: number;
  eventsDelivered: number;
  bytesWritten: number;
  slowConsumerDisconnects: number;
  replays: number;
  resets: number;
  duplicatesDropped: number;
  tokenExpiries: number;
}

export interface Group {
  readonly key: string;
  readonly names: readonly string[];
  readonly topics: readonly Topic[];
  readonly subs: Subscriber[];
  chunks: Uint8Array[];
  bytes: number;
  events: number;
  stamp: number;
  dirty: boolean;
  /**
   * Id of the newest event the members have (`null`: none yet). A live event at or below it is a
   * duplicate and is dropped: the group's stream only moves forward.
   */
  lastId: string | null;
}

export interface Topic {
  readonly name: string;
  readonly groups: Set<Group>;
  /**
   * Subscribers that resumed and are not in a group yet: replaying (live events are held until
   * the replay is written) or catching up (see `Subscriber.floor`).
   */
  readonly holding: Set<Subscriber>;
  refs: number;
  /** Settles once the broker feed follows this topic. */
  ready: Promise<void>;
}

export interface Subscriber {
  /** The subscriber's byte stream: the record itself (it extends `Outlet`). */
  readonly outlet: Outlet;
  readonly topics: readonly string[];
  /** The hub's topic records this subscriber holds a reference on (same order as `topics`). */
  acquired: readonly Topic[];
  readonly key: string;
  readonly address: string | undefined;
  group: Group | null;
  index: number;
  /** Replaying: live events held until the replay is written (`null` otherwise). */
  held: BrokerEvent[] | null;
  heldBytes: number;
  /** The held events passed `maxQueuedBytes`: later ones were not kept. */
  heldOverflow: boolean;
  /**
   * Catching up: the id of the newest event written to this subscriber, while it waits outside
   * any group for the live feed to pass it. A broker's feed may lag behind its history (Redis:
   * the feed's XREAD and the history read run on different connections), so after a replay the
   * feed can still bring events the replay carried. Those are dropped; the first newer one is
   * written directly, and the subscriber joins its group at the next flush. `null` otherwise.
   */
  floor: string | null;
  /** Catching up and past its floor: joins its group at the next flush. */
  joining: boolean;
  stamp: number;
  released: boolean;
  /** Ends the stream when its authorization expires (see `AuthorizeResult`). */
  expiry: ReturnType<typeof setTimeout> | undefined;
}
