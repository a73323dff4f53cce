// AI SDK chat: the `ai` package's own chat, without a framework. `AbstractChat` is the core that
// React's `useChat` runs; here its state is a plain object that repaints the page. It talks to
// the demo's `/api/ai/chat` (`ssekit/ai-sdk`) through the AI SDK's `DefaultChatTransport`, as
// `useChat({ resume: true })` does: on load the page calls `resumeStream()`, a GET of
// /api/ai/chat/<chatId>/stream that replays the chat's active reply from its start and goes on
// live (204 when none runs). The chat id and its messages are kept in sessionStorage, so a reload
// comes back to the same chat. Stop calls `stop()` (the page stops reading) and sends DELETE
// there (the server stops the bot, wherever it runs).
import {
  AbstractChat,
  type ChatState,
  type ChatStatus,
  DefaultChatTransport,
  generateId,
  type UIMessage,
} from 'ai';
import { h, inline, markTab, setStatus, statusBadge } from './common.js';

markTab();
const API = '/api/ai/chat';
const app = document.getElementById('app')!;
const status = statusBadge('ai-status', 'idle', 'Idle');
const empty = h('p', {
  class: 'empty',
  text: 'Ask the bot something. The AI SDK’s own chat streams the reply; reload the page mid-reply and it continues the reply, every word once.',
});
const list = h('div', { class: 'messages', id: 'ai-messages' }, empty);
const input = h('input', {
  type: 'text',
  id: 'ai-input',
  placeholder: 'Type a message…',
  autocomplete: 'off',
});
const send = h('button', { class: 'primary', type: 'submit', id: 'ai-send', text: 'Send' });
const stop = h('button', { class: 'danger', type: 'button', id: 'ai-stop', text: 'Stop' });
stop.disabled = true;
const form = h('form', { class: 'row' }, input, send, stop);
app.append(
  h('h1', { text: 'AI SDK chat' }),
  h(
    'p',
    { class: 'lede' },
    'The ',
    h('code', { text: 'ai' }),
    ' package’s chat with ',
    h('code', { text: 'DefaultChatTransport' }),
    ' and ',
    h('code', { text: 'resume: true' }),
    ' on ',
    h('code', { text: 'ssekit/ai-sdk' }),
    ': a reload resumes the reply at ',
    h('code', { text: 'GET /api/ai/chat/<id>/stream' }),
    '; Stop DELETEs it there (watch the terminal).',
  ),
  h(
    'div',
    { class: 'panel' },
    h('div', { class: 'bar' }, h('strong', { text: 'Mock bot' }), status),
    list,
    form,
  ),
);

/** What the tab keeps in sessionStorage (an app would keep the messages in its database). */
interface Saved {
  id: string;
  /** The settled messages: a reply still streaming is not among them (see `partial`). */
  messages: UIMessage[];
  /**
   * The reply that was streaming when the page went away, as far as it got. A resume replays the
   * reply from its start, so it replaces this one rather than adding to it; when nothing runs any
   * more (204), this is all of it there is.
   */
  partial?: UIMessage;
  /** Notes under the assistant messages that did not end as done, by message id. */
  notes: Record<string, string>;
}

const KEY = 'ssekit-demo-ai-chat';
// sessionStorage holds a few MiB per origin, and each POST carries the whole conversation: the
// chat keeps its last messages.
const MAX_MESSAGES = 40;

function load(): Saved {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Saved> | null;
    if (saved && typeof saved.id === 'string' && Array.isArray(saved.messages)) {
      const valid = (m: unknown): m is UIMessage =>
        typeof (m as UIMessage)?.id === 'string' && Array.isArray((m as UIMessage).parts);
      return {
        id: saved.id,
        messages: saved.messages.filter(valid).slice(-MAX_MESSAGES),
        ...(valid(saved.partial) ? { partial: saved.partial } : {}),
        notes: typeof saved.notes === 'object' && saved.notes !== null ? saved.notes : {},
      };
    }
  } catch {
    // Unreadable: a new chat.
  }
  return { id: generateId(), messages: [], notes: {} };
}

const saved = load();
const notes = saved.notes;

/**
 * The chat's state, as `useChat` keeps it in React state: here plain fields, and every change
 * repaints the page and saves the chat.
 */
class PageState implements ChatState<UIMessage> {
  #messages: UIMessage[];
  #status: ChatStatus = 'ready';
  error: Error | undefined = undefined;
  /** A message the next pushed assistant message replaces: the partial reply a resume replays. */
  replaceOnPush: string | undefined;
  constructor(messages: UIMessage[]) {
    this.#messages = messages;
  }
  get messages(): UIMessage[] {
    return this.#messages;
  }
  set messages(messages: UIMessage[]) {
    this.#messages = messages;
    changed();
  }
  get status(): ChatStatus {
    return this.#status;
  }
  set status(status: ChatStatus) {
    this.#status = status;
    changed();
  }
  pushMessage = (message: UIMessage): void => {
    const partial = this.replaceOnPush;
    this.replaceOnPush = undefined;
    const last = this.#messages.at(-1);
    if (partial !== undefined && message.role === 'assistant' && last?.id === partial) {
      delete notes[partial];
      this.messages = [...this.#messages.slice(0, -1), message];
    } else {
      this.messages = [...this.#messages, message];
    }
  };
  popMessage = (): void => {
    this.messages = this.#messages.slice(0, -1);
  };
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = [...this.#messages.slice(0, index), message, ...this.#messages.slice(index + 1)];
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** The framework-free chat: `AbstractChat` on the page's state. */
class Chat extends AbstractChat<UIMessage> {}

const state = new PageState(saved.partial ? [...saved.messages, saved.partial] : saved.messages);
/** Set by Stop until the reply has ended, so its note says stopped rather than error. */
let stopping = false;
const chat = new Chat({
  id: saved.id,
  state,
  transport: new DefaultChatTransport({ api: API }),
  onFinish({ message, isAbort, isError, isDisconnect }) {
    if (message.role !== 'assistant') return;
    if (isAbort || stopping) notes[message.id] = 'stopped';
    else if (isDisconnect) notes[message.id] = 'error: the connection dropped (reload to resume)';
    else if (isError) notes[message.id] = `error: ${chat.error?.message ?? 'the reply failed'}`;
    changed();
  },
});

const text = (message: UIMessage): string =>
  message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');

const busy = (): boolean => chat.status === 'submitted' || chat.status === 'streaming';

/** The bubbles shown, by message id. */
const bubbles = new Map<string, { bubble: HTMLDivElement; shown: string; note: string | undefined }>();

function paint(): void {
  const messages = state.messages;
  const streaming = busy() ? messages.at(-1) : undefined;
  const ids = new Set(messages.map((m) => m.id));
  for (const [id, view] of bubbles) {
    if (!ids.has(id)) {
      view.bubble.remove();
      bubbles.delete(id);
    }
  }
  let added = false;
  for (const message of messages) {
    let view = bubbles.get(message.id);
    if (view === undefined) {
      const bubble = h('div', { class: `msg ${message.role === 'user' ? 'user' : 'bot'}` });
      bubble.dataset.id = message.id;
      view = { bubble, shown: '\u0000', note: undefined };
      bubbles.set(message.id, view);
      added = true;
    }
    // In the order of the messages (a replayed reply takes the place of its partial).
    list.append(view.bubble);
    const body = text(message);
    const note = message.role === 'assistant' ? notes[message.id] : undefined;
    if (body !== view.shown || note !== view.note) {
      view.shown = body;
      view.note = note;
      view.bubble.replaceChildren(h('span', { class: 'text' }, ...inline(body)));
      if (note !== undefined) view.bubble.append(h('span', { class: 'meta', text: note }));
      added = true;
    }
    if (message.role === 'assistant') {
      view.bubble.dataset.state =
        message === streaming
          ? 'streaming'
          : note === undefined
            ? 'done'
            : note === 'stopped'
              ? 'stopped'
              : 'error';
    }
  }
  if (messages.length > 0) empty.remove();
  if (added) list.scrollTop = list.scrollHeight;
  const [badge, label] =
    chat.status === 'submitted'
      ? ['connecting', 'Waiting…']
      : chat.status === 'streaming'
        ? ['streaming', 'Streaming…']
        : chat.status === 'error'
          ? ['error', 'Error']
          : stopping || (messages.at(-1) && notes[messages.at(-1)!.id] === 'stopped')
            ? ['stopped', 'Stopped']
            : ['idle', 'Idle'];
  setStatus(status, badge, label);
  send.disabled = busy();
  stop.disabled = !busy() || stopping;
}

function save(): void {
  const messages = state.messages;
  const last = messages.at(-1);
  const streaming = chat.status === 'streaming' && last?.role === 'assistant';
  const kept: Saved = {
    id: chat.id,
    messages: (streaming ? messages.slice(0, -1) : messages).slice(-MAX_MESSAGES),
    ...(streaming ? { partial: last } : {}),
    notes: Object.fromEntries(Object.entries(notes).filter(([id]) => messages.some((m) => m.id === id))),
  };
  try {
    sessionStorage.setItem(KEY, JSON.stringify(kept));
  } catch {
    // Storage full or disabled: the chat works, a reload just forgets it.
  }
}

let scheduled = false;
/** Repaints and saves once per task, however many changes a chunk made. */
function changed(): void {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    paint();
    save();
  });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const message = input.value.trim();
  if (!message || busy()) return;
  input.value = '';
  stopping = false;
  void chat.sendMessage({ text: message });
});

stop.addEventListener('click', async () => {
  if (!busy()) return;
  stopping = true;
  changed();
  // The page stops reading, and the server stops the bot: `stop()` alone only drops this
  // connection, and the reply would go on (a reload would resume it).
  await Promise.all([
    chat.stop(),
    fetch(`${API}/${encodeURIComponent(chat.id)}/stream`, { method: 'DELETE' }).catch(() => {}),
  ]);
  stopping = false;
  changed();
  input.focus();
});

// `resume: true`: on load, ask for the chat's active reply. It replays from its start, so it
// replaces the partial reply kept at the reload; a 204 (nothing runs: it ended while the page was
// away) leaves the partial as it was, with a note.
const partial = saved.partial;
if (partial) state.replaceOnPush = partial.id;
paint();
void chat.resumeStream().then(() => {
  if (partial && state.replaceOnPush === partial.id) {
    state.replaceOnPush = undefined;
    notes[partial.id] = 'interrupted: the reply ended while the page was away';
    changed();
  }
});
input.focus();
