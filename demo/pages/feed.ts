// Live feed: a GET subscription to a hub topic, shared by every tab of the feed (ssekit/share):
// one tab holds the connection and passes the events to the others, so the hub counts one
// subscriber per browser, and a seventh tab does not hang on the browser's six connections.
// Once the stream is open, the page shows the topic's recent events (GET /api/recent) and then
// the live ones after the id they were read up to: nothing is missed or shown twice. Reconnects
// resume with Last-Event-ID; when the leading tab closes, another takes over the same way.
import type { SharedConnection } from 'ssekit/share';
import { connectShared } from 'ssekit/share';
import { h, markTab, setStatus, statusBadge } from './common.js';

markTab();
const TOPIC = new URLSearchParams(location.search).get('topic') ?? 'feed';
const app = document.getElementById('app')!;
const status = statusBadge('feed-status', 'connecting', 'Connecting…');
const notice = h('div', { class: 'notice', id: 'feed-notice' });
const list = h('ul', { class: 'events', id: 'events' });
const input = h('input', {
  type: 'text',
  id: 'feed-input',
  placeholder: 'Something happened…',
  autocomplete: 'off',
});
const form = h(
  'form',
  { class: 'row' },
  input,
  h('button', { class: 'primary', type: 'submit', id: 'feed-publish', text: 'Publish' }),
);
const count = h('div', { class: 'count', id: 'feed-count', text: 'No events yet: publish one.' });
app.append(
  h('h1', { text: 'Live feed' }),
  h(
    'p',
    { class: 'lede' },
    `GET /hub?topic=${TOPIC}. Publish here, or from a shell: `,
    h('code', { text: `npx ssekit publish ${location.origin}/hub ${TOPIC} "hello"` }),
    '. Restart the server: this page reconnects and replays what it missed.',
  ),
  h(
    'div',
    { class: 'panel' },
    h('div', { class: 'bar' }, h('strong', { text: `Topic “${TOPIC}”` }), status),
    form,
    notice,
    h('div', { class: 'bar' }, count),
    list,
  ),
);

let received = 0;
const MAX_ROWS = 200;
/** The topic's most recent events, and the id to subscribe after (what they were read up to). */
interface Recent {
  events: { id: string; event?: string; data: string }[];
  after: string;
}

async function recent(): Promise<Recent | undefined> {
  try {
    const response = await fetch(`/api/recent?topic=${encodeURIComponent(TOPIC)}`);
    return response.ok ? ((await response.json()) as Recent) : undefined;
  } catch {
    return undefined; // the server is down: subscribe anyway, and show what arrives
  }
}

/** Hub ids are `<ms>-<seq>`: whether `id` comes after `after`. */
function isAfter(id: string, after: string): boolean {
  const [ms, seq] = id.split('-').map(Number) as [number, number];
  const [afterMs, afterSeq] = after.split('-').map(Number) as [number, number];
  return ms > afterMs || (ms === afterMs && seq > afterSeq);
}

/** The shared subscription; `open` resolves when the stream first opens, in this tab. */
function subscribe(): { connection: SharedConnection; open: Promise<void> } {
  let opened = false;
  let resolve!: () => void;
  const open = new Promise<void>((r) => (resolve = r));
  const connection = connectShared(`/hub?topic=${encodeURIComponent(TOPIC)}`, {
    // Each wait is the reconnection time (the server's `retry:`, 1 s plus up to its `reconnectHint.spread`) plus a
    // backoff term; maxDelay caps that term, not the whole wait.
    reconnect: { initialDelay: 500, maxDelay: 5000 },
    // Told in every tab, whichever holds the connection (the others get the leader's headers).
    onOpen(response) {
      // The hub says how it honoured our Last-Event-ID: 'replay' (missed events follow) or 'reset'.
      const resumed = opened && response.headers.get('ssekit-resume') === 'replay';
      opened = true;
      resolve();
      setStatus(status, 'live', 'Live');
      notice.textContent = resumed
        ? `Reconnected: replaying what was published after ${connection.lastEventId}.`
        : '';
    },
    onReconnect(delay) {
      // The wait the leading tab's client computed for this attempt (network errors and 5xx are
      // retried; a 4xx ends the stream, below).
      setStatus(status, 'reconnecting', `Reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    },
  });
  return { connection, open };
}

function show(id: string, event: string | undefined, data: string): void {
  received++;
  count.textContent = `${received} event${received === 1 ? '' : 's'}`;
  const row = h(
    'li',
    { 'data-id': id },
    // Hub ids are `<ms>-<seq>`: the time part is when the hub accepted the event.
    h('span', {
      class: 'mono when',
      title: id,
      text: new Date(Number(id.split('-')[0])).toLocaleTimeString(),
    }),
    h('span', { class: 'data', text: data }),
    // No event type (`ssekit publish` sends none) is a `message`, as EventSource names it.
    h('span', { class: 'tag', text: event || 'message' }),
  );
  list.prepend(row);
  // The page stays light however long it is open: the oldest rows go.
  if (list.childElementCount > MAX_ROWS) list.lastElementChild?.remove();
}

(async () => {
  // Subscribed first, history read once the stream is open: an event published in between is
  // in both, and shown once (the live copy is skipped); none falls between the two.
  const { connection, open } = subscribe();
  await open;
  const shown = await recent();
  for (const event of shown?.events ?? []) show(event.id, event.event, event.data);
  const after = shown?.after;
  try {
    for await (const message of connection) {
      if (message.event === 'reset') {
        notice.textContent =
          'History no longer reaches back to the last event seen: showing new events only.';
        continue;
      }
      if (after && message.id && !isAfter(message.id, after)) continue;
      show(message.id, message.event, message.data);
    }
  } catch (error) {
    setStatus(status, 'error', `Stopped: ${(error as Error).name}`);
  }
})();

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = input.value.trim();
  if (!data) return;
  const response = await fetch('/hub', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: TOPIC, event: 'post', data }),
  }).catch(() => null);
  if (response?.ok) {
    // Only once it is published: a failed publish keeps the text, to send again.
    if (input.value.trim() === data) input.value = '';
    notice.textContent = '';
  } else {
    const why = response ? `the server answered ${response.status}` : 'is the server up?';
    notice.textContent = `Publish failed (${why}): your text is still there, try again.`;
  }
});
