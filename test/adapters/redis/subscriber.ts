// A subscriber on the real `ssekit/client` `connect`: it reconnects on its own (WHATWG HTML
// §9.2.3) and sends the last id it saw as `Last-Event-ID` (§9.2.4). `base()` says where the hub
// is now, so a failover test can move it between instances.
import { connect } from '../../../src/client/index.js';
import { RESET_EVENT } from '../../../src/hub/index.js';

export interface Recorded {
  readonly ids: string[];
  readonly data: string[];
  /** Reset events received (the tests expect none). */
  readonly resets: string[];
  /** Streams opened: 1 means it never had to reconnect. */
  opens: number;
  /** Stops the client. */
  close(): void;
}

const PLACEHOLDER = 'http://hub.invalid';

/**
 * Subscribes to `topic` from the start of its history (`0-0`), so when the first connect lands
 * does not matter: what it must end with is every stored event once, in order.
 */
export function subscribeWithClient(base: () => string, topic: string): Recorded {
  const recorded: Recorded = {
    ids: [],
    data: [],
    resets: [],
    opens: 0,
    close: () => connection.close(),
  };
  const connection = connect(`${PLACEHOLDER}/?topic=${encodeURIComponent(topic)}`, {
    lastEventId: '0-0',
    fetch: (url, init) => fetch(url.replace(PLACEHOLDER, base()), init),
    reconnect: { initialDelay: 20, maxDelay: 250 },
    onOpen() {
      recorded.opens++;
    },
    onEvent(event) {
      if (event.event === RESET_EVENT) recorded.resets.push(event.data);
      else {
        recorded.ids.push(event.id);
        recorded.data.push(event.data);
      }
    },
    // Every failure (a killed hub, a 503 while one starts) is retried.
    onError: () => true,
  });
  // closed rejects only on a fatal error, which onError rules out; keep it from being unhandled.
  connection.closed.catch(() => {});
  return recorded;
}

/** Waits until `condition` holds or `ms` passed (the caller's assertions then tell what is missing). */
export async function waitFor(condition: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}
