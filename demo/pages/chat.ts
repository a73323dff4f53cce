// Chat: the bot's reply is a resumable reply (ssekit/replies). POST /api/chat starts it and
// streams it; its URL (Content-Location) and the last event id are kept in sessionStorage with
// the conversation, so a reload resumes it with a GET of that URL and Last-Event-ID: the reply
// goes on where it was, no token twice. Stop sends DELETE to that URL.
import { type Connection, connect } from 'ssekit/client';
import { h, inline, markTab, setStatus, statusBadge } from './common.js';

markTab();
const app = document.getElementById('app')!;
const status = statusBadge('chat-status', 'idle', 'Idle');
const empty = h('p', {
  class: 'empty',
  text: 'Ask the bot something. Its reply streams in token by token over a POST request; reload the page mid-reply and it goes on where it was.',
});
const messages = h('div', { class: 'messages', id: 'messages' }, empty);
const input = h('input', {
  type: 'text',
  id: 'chat-input',
  placeholder: 'Type a message…',
  autocomplete: 'off',
});
const send = h('button', { class: 'primary', type: 'submit', id: 'chat-send', text: 'Send' });
const stop = h('button', { class: 'danger', type: 'button', id: 'chat-stop', text: 'Stop' });
stop.disabled = true;
const form = h('form', { class: 'row' }, input, send, stop);
app.append(
  h('h1', { text: 'Chat' }),
  h('p', {
    class: 'lede',
    text: 'POST /api/chat streams a reply with a URL: a reload resumes it there; Stop DELETEs it (watch the terminal).',
  }),
  h(
    'div',
    { class: 'panel' },
    h('div', { class: 'bar' }, h('strong', { text: 'Mock bot' }), status),
    messages,
    form,
  ),
);

/** One message of the conversation, as kept in sessionStorage. */
interface Entry {
  role: 'user' | 'bot';
  text: string;
  /** A bot message: `streaming` until its `end` event, then `done`, `stopped` or `error`. */
  state?: 'streaming' | 'done' | 'stopped' | 'error';
  meta?: string;
  /** The reply's URL (Content-Location), once the POST answered. */
  url?: string;
  /** The id of the last event shown: where a resume starts. */
  lastEventId?: string;
  tokens?: number;
}

const KEY = 'ssekit-demo-chat';
// sessionStorage holds a few MiB per origin: the conversation is cut to its last messages.
const MAX_ENTRIES = 40;

function load(): Entry[] {
  try {
    const stored: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
    if (!Array.isArray(stored)) return [];
    return stored.filter(
      (e): e is Entry => (e?.role === 'user' || e?.role === 'bot') && typeof e.text === 'string',
    );
  } catch {
    return [];
  }
}

const entries = load().slice(-MAX_ENTRIES);

/** Called after each token: the text and the id it belongs to are written together. */
function save(): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(entries));
  } catch {
    // Storage full or disabled: the chat works, a reload just forgets it.
  }
}

interface View {
  bubble: HTMLDivElement;
  /** The message's text, inline code as `<code>`. */
  body: HTMLSpanElement;
}

/** Keeps the newest message, its last line included, in view. */
const scrollDown = (): void => {
  messages.scrollTop = messages.scrollHeight;
};

function render(entry: Entry): View {
  empty.remove();
  const bubble = h('div', { class: `msg ${entry.role}` });
  const body = h('span', { class: 'text' }, ...inline(entry.text));
  bubble.append(body);
  if (entry.role === 'bot') {
    bubble.dataset.state = entry.state ?? 'streaming';
    if (entry.meta !== undefined) bubble.append(h('span', { class: 'meta', text: entry.meta }));
  }
  messages.append(bubble);
  scrollDown();
  return { bubble, body };
}

/** The reply being shown: its connection (a POST, then a GET on resume) and whether Stop was pressed. */
let current: { entry: Entry; connection: Connection; stopping: boolean } | null = null;

/** How each `end` reason is shown. */
function ending(reason: string | undefined, stopping: boolean, tokens: number): Ending {
  if (reason === 'done') return ['done', 'idle', 'Idle', `${tokens} tokens`] as const;
  if (reason === 'stopped' || (reason === undefined && stopping))
    return ['stopped', 'stopped', 'Stopped', `stopped after ${tokens} tokens`] as const;
  const note =
    reason === 'producer-lost'
      ? 'the server running the bot was lost'
      : reason === 'failed'
        ? 'the bot failed'
        : `the reply ended: ${reason ?? 'connection closed'}`;
  return ['error', 'error', 'Error', `error: ${note} after ${tokens} tokens`] as const;
}

/** Resumes a reply at its URL after the last event shown (a GET: safe to retry). */
const resume = (entry: Entry): Connection =>
  connect(entry.url!, entry.lastEventId ? { lastEventId: entry.lastEventId } : {});

/**
 * Shows a reply's events until its `end`. `posted`: `first` is the POST, which never reconnects
 * (that would start a second reply); if its stream drops, the reply goes on at its URL, once.
 */
async function follow(entry: Entry, view: View, first: Connection, posted: boolean): Promise<void> {
  const reply = { entry, connection: first, stopping: false };
  current = reply;
  send.disabled = true;
  stop.disabled = false;
  setStatus(status, 'streaming', 'Streaming…');
  let reason: string | undefined;
  let fallback = posted;
  try {
    for (;;) {
      try {
        for await (const message of reply.connection) {
          if (message.event === 'token') {
            entry.text += message.data;
            view.body.replaceChildren(...inline(entry.text));
            entry.tokens = (entry.tokens ?? 0) + 1;
            entry.lastEventId = message.id;
            save();
            scrollDown();
          } else if (message.event === 'end') {
            reason = String(JSON.parse(message.data)?.reason);
            break;
          }
        }
      } catch (error) {
        // A network error on the POST (reconnect: false makes it final). A GET retries by itself.
        if (!fallback || entry.url === undefined || reply.stopping) throw error;
      }
      if (reason !== undefined || reply.stopping || !fallback || entry.url === undefined) break;
      fallback = false;
      reply.connection = resume(entry);
    }
    finish(entry, view, ending(reason, reply.stopping, entry.tokens ?? 0));
  } catch (error) {
    finish(entry, view, ['error', 'error', 'Error', `error: ${(error as Error).name}`]);
  } finally {
    current = null;
    send.disabled = false;
    stop.disabled = true;
    input.focus();
  }
}

/** How a reply ended: [message state, badge state, badge text, note under the message]. */
type Ending = readonly [NonNullable<Entry['state']>, string, string, string];

function finish(entry: Entry, view: View, [state, badge, text, meta]: Ending): void {
  entry.state = state;
  entry.meta = meta;
  save();
  view.bubble.dataset.state = state;
  view.bubble.append(h('span', { class: 'meta', text: meta }));
  // The note adds a line under the last bubble: scroll it into view too.
  if (view.bubble === messages.lastElementChild) scrollDown();
  setStatus(status, badge, text);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || current) return;
  input.value = '';
  const asked: Entry = { role: 'user', text };
  const entry: Entry = { role: 'bot', text: '', state: 'streaming', tokens: 0 };
  entries.push(asked, entry);
  if (entries.length > MAX_ENTRIES) entries.splice(0, entries.length - MAX_ENTRIES);
  save();
  render(asked);
  const view = render(entry);
  const connection = connect('/api/chat', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: text }),
    reconnect: false, // never send the same prompt twice: a dropped reply resumes at its URL
    onOpen(response) {
      const url = response.headers.get('content-location');
      if (url !== null) {
        entry.url = url;
        save();
      }
    },
  });
  void follow(entry, view, connection, true);
});

stop.addEventListener('click', async () => {
  const reply = current;
  if (reply === null) return;
  stop.disabled = true;
  reply.stopping = true;
  if (reply.entry.url !== undefined) {
    try {
      // 204 once the reply has ended: its `end {"reason":"stopped"}` reaches the stream too.
      const answer = await fetch(reply.entry.url, { method: 'DELETE' });
      if (answer.status === 204) return;
    } catch {
      // The server is unreachable: stop reading at least.
    }
  }
  reply.connection.close();
});

// A reload: show the conversation, and resume the last reply if it was still streaming.
for (const entry of entries) {
  const view = render(entry);
  if (entry.role === 'bot' && entry.state === 'streaming') {
    if (entry.url === undefined || entry !== entries.at(-1)) {
      // Reloaded before the POST answered: the reply's URL is unknown.
      finish(entry, view, ['error', 'error', 'Error', 'error: the reply was lost in the reload']);
    } else {
      void follow(entry, view, resume(entry), false);
    }
  }
}
input.focus();
