/**
 * The page of the Chromium test: the AI SDK's `useChat` (`@ai-sdk/react`) as its docs write it,
 * with `resume: true` and the default transport pointed at `/api/ai/chat`. The app keeps the
 * chat's id and its user messages in the tab's sessionStorage (an app would keep them in its
 * database), so a reload comes back to the same chat. Built with React's `createElement`, no JSX.
 */
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, type UIMessage } from 'ai';
import { createElement as h, useEffect } from 'react';
import { createRoot } from 'react-dom/client';

const KEY = 'chat';
const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as {
  id: string;
  messages: UIMessage[];
} | null;
const chatId = saved?.id ?? crypto.randomUUID();

function App() {
  const { messages, sendMessage, status, stop } = useChat({
    id: chatId,
    messages: saved?.messages ?? [],
    resume: true,
    transport: new DefaultChatTransport({ api: '/api/ai/chat' }),
  });
  useEffect(() => {
    const users = messages.filter((m) => m.role === 'user');
    sessionStorage.setItem(KEY, JSON.stringify({ id: chatId, messages: users }));
  }, [messages]);
  const assistants = messages.filter((m) => m.role === 'assistant');
  return h(
    'main',
    null,
    h(
      'button',
      { type: 'button', id: 'send', onClick: () => void sendMessage({ text: 'Tell me a story' }) },
      'Send',
    ),
    h(
      'button',
      {
        type: 'button',
        id: 'stop',
        onClick: () => {
          void stop();
          void fetch(`/api/ai/chat/${encodeURIComponent(chatId)}/stream`, { method: 'DELETE' });
        },
      },
      'Stop',
    ),
    h('output', { id: 'status' }, status),
    h('output', { id: 'replies' }, String(assistants.length)),
    h(
      'div',
      { id: 'answer' },
      (assistants.at(-1)?.parts ?? []).map((p) => (p.type === 'text' ? p.text : '')).join(''),
    ),
  );
}

createRoot(document.getElementById('root') as HTMLElement).render(h(App));
