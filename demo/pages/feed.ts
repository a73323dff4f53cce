// Live feed: a GET subscription to a hub topic. The page first shows the topic's recent events
// (GET /api/recent), then subscribes with the id they were read up to as its Last-Event-ID: the
// hub replays whatever came after, so nothing is missed or shown twice. Reconnects resume the same way.
import { type Connection, connect } from 'ssekit/client';
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

function subscribe(lastEventId: string | undefined): Connection {
  let opened = false;
  const connection = connect(`/hub?topic=${encodeURIComponent(TOPIC)}`, {
    lastEventId,
    // Each wait is the reconnection time (the server's `retry:`, 1 s or more, jittered) plus a
    // backoff term; maxDelay caps that term, not the whole wait.
    retry: { initialDelay: 500, maxDelay: 5000 },
    onOpen(response) {
      // The hub says how it honoured our Last-Event-ID: 'replay' (missed events follow) or 'reset'.
      const resumed = opened && response.headers.get('ssekit-resume') === 'replay';
      opened = true;
      setStatus(status, 'live', 'Live');
      notice.textContent = resumed
        ? `Reconnected: replaying what was published after ${connection.lastEventId}.`
        : '';
    },
    onRetry(ms) {
      // The wait the client actually computed for this attempt.
      setStatus(status, 'reconnecting', `Reconnecting in ${(ms / 1000).toFixed(1)} s…`);
    },
    onError(error) {
      setStatus(status, 'reconnecting', `Connection lost (${(error as Error).name})`);
      return undefined; // the default policy: retry network errors and 5xx, stop on 4xx
    },
  });
  return connection;
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
  const shown = await recent();
  for (const event of shown?.events ?? []) show(event.id, event.event, event.data);
  const connection = subscribe(shown?.after);
  try {
    for await (const message of connection) {
      if (message.event === 'reset') {
        notice.textContent =
          'History no longer reaches back to the last event seen: showing new events only.';
        continue;
      }
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
