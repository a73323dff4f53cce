// Live feed: a GET subscription to a hub topic. Reconnects resume from Last-Event-ID.
import { connect } from 'ssekit/client';
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
  h('button', { class: 'primary', type: 'submit', text: 'Publish' }),
);
const count = h('div', { class: 'count', id: 'feed-count', text: 'No events yet: publish one.' });
app.append(
  h('h1', { text: 'Live feed' }),
  h(
    'p',
    { class: 'lede' },
    `GET /hub?topic=${TOPIC}. Publish here, or from a shell: `,
    h('code', { text: `ssekit publish ${location.origin}/hub ${TOPIC} "hello"` }),
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
const connection = connect(`/hub?topic=${encodeURIComponent(TOPIC)}`, {
  retry: { initialDelay: 500, maxDelay: 5000 },
  onOpen(response) {
    // The hub says how it honoured our Last-Event-ID: 'replay' (missed events follow) or 'reset'.
    const resumed = response.headers.get('ssekit-resume') === 'replay';
    setStatus(status, 'live', 'Live');
    notice.textContent = resumed
      ? `Reconnected: replaying what was published after ${connection.lastEventId}.`
      : '';
  },
  onRetry(ms) {
    setStatus(status, 'reconnecting', `Reconnecting in ${(ms / 1000).toFixed(1)} s…`);
  },
  onError(error) {
    setStatus(status, 'reconnecting', `Connection lost (${(error as Error).name})`);
    return undefined; // the default policy: retry network errors and 5xx, stop on 4xx
  },
});

function show(id: string, event: string, data: string): void {
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
    h('span', { class: 'tag', text: event }),
  );
  list.prepend(row);
}

(async () => {
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
  input.value = '';
  const response = await fetch('/hub', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: TOPIC, event: 'post', data }),
  }).catch(() => null);
  if (!response?.ok) notice.textContent = 'Publish failed: is the server up?';
});
