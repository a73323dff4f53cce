// Chat: the bot's reply streams from a POST endpoint through ssekit/client's connect().
import { connect } from 'ssekit/client';
import { h, markTab, setStatus, statusBadge } from './common.js';

markTab();
const app = document.getElementById('app')!;
const status = statusBadge('chat-status', 'idle', 'Idle');
const messages = h(
  'div',
  { class: 'messages', id: 'messages' },
  h('p', {
    class: 'empty',
    text: 'Ask the bot something. Its reply streams in token by token over a POST request.',
  }),
);
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
    text: 'POST /api/chat answers with text/event-stream. Stop aborts the request; the server’s producer stops with it (watch the terminal).',
  }),
  h(
    'div',
    { class: 'panel' },
    h('div', { class: 'bar' }, h('strong', { text: 'Mock bot' }), status),
    messages,
    form,
  ),
);

let current: { close(): void } | null = null;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || current) return;
  input.value = '';
  messages.querySelector('.empty')?.remove();
  messages.append(h('div', { class: 'msg user', text }));
  const bubble = h('div', { class: 'msg bot', 'data-state': 'streaming' });
  messages.append(bubble);
  const body = document.createTextNode('');
  bubble.append(body);

  const connection = connect('/api/chat', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: text }),
    retry: false, // a reply is not resumable: never send the same prompt twice
  });
  current = connection;
  send.disabled = true;
  stop.disabled = false;
  setStatus(status, 'streaming', 'Streaming…');
  let tokens = 0;
  let finished = false;
  try {
    for await (const message of connection) {
      if (message.event === 'token') {
        body.data += message.data;
        tokens++;
        messages.scrollTop = messages.scrollHeight;
      } else if (message.event === 'done') {
        finished = true;
      }
    }
    bubble.dataset.state = finished ? 'done' : 'stopped';
    bubble.append(
      h('span', { class: 'meta', text: finished ? `${tokens} tokens` : `stopped after ${tokens} tokens` }),
    );
    setStatus(status, finished ? 'idle' : 'stopped', finished ? 'Idle' : 'Stopped');
  } catch (error) {
    bubble.dataset.state = 'stopped';
    bubble.append(h('span', { class: 'meta', text: `error: ${(error as Error).name}` }));
    setStatus(status, 'error', 'Error');
  } finally {
    current = null;
    send.disabled = false;
    stop.disabled = true;
    input.focus();
  }
});

stop.addEventListener('click', () => current?.close());
input.focus();
