'use client';

/**
 * The AI chat page: `@ai-sdk/react`'s `useChat` as the AI SDK documents it for resumable
 * streams, `resume: true` and its `DefaultChatTransport`, pointed at `/api/ai/chat`
 * (lib/ai-chat.ts, `createChatReplies` from `ssekit/ai-sdk`).
 *
 * The chat's id and its settled messages are kept in sessionStorage (an app keeps them in its
 * database), so a reload comes back to the same chat; `resume: true` then asks
 * `GET /api/ai/chat/<id>/stream`, and a reply still running continues, its text once (the server
 * replays it from its start and the chat rebuilds the message). Stop aborts the tab's fetch
 * (`stop()`) and sends `DELETE /api/ai/chat/<id>/stream`, which aborts the model call wherever
 * it runs.
 */
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, type UIMessage } from 'ai';
import { type FormEvent, useEffect, useState } from 'react';

const STORAGE_KEY = 'ssekit-example:ai-chat';
const API = '/api/ai/chat';

interface SavedChat {
  id: string;
  messages: UIMessage[];
}

function loadChat(): SavedChat {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as SavedChat | null;
    if (saved && typeof saved.id === 'string' && Array.isArray(saved.messages)) return saved;
  } catch {
    // A broken entry: start a new chat.
  }
  return { id: crypto.randomUUID(), messages: [] };
}

/** sessionStorage exists in the browser only: the chat mounts once it is read. */
export function AiChat() {
  const [saved, setSaved] = useState<SavedChat>();
  useEffect(() => setSaved(loadChat()), []);
  const newChat = () => {
    sessionStorage.removeItem(STORAGE_KEY);
    setSaved({ id: crypto.randomUUID(), messages: [] });
  };
  return (
    <main data-hydrated={saved ? 'true' : 'false'}>
      <h1>AI SDK chat, resumable</h1>
      <p>
        <code>useChat</code> from <code>@ai-sdk/react</code> with <code>resume: true</code>, served by{' '}
        <code>createChatReplies</code> from <code>ssekit/ai-sdk</code> and a mock model. Reload mid-reply: it
        goes on. Stop: the model call ends on the server.
      </p>
      {saved && <ChatBox key={saved.id} saved={saved} onNewChat={newChat} />}
    </main>
  );
}

const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('');

function ChatBox({ saved, onNewChat }: { saved: SavedChat; onNewChat: () => void }) {
  const chatId = saved.id;
  const { messages, sendMessage, status, stop, error } = useChat({
    id: chatId,
    messages: saved.messages,
    resume: true,
    transport: new DefaultChatTransport({ api: API }),
  });
  const [input, setInput] = useState('');

  // Keep what is settled: until the chat is `ready` again (a reply streaming, or cut off by a
  // dropped connection), the chat without its last reply, which a reload resumes whole from the
  // server.
  useEffect(() => {
    const settled =
      status !== 'ready' && messages.at(-1)?.role === 'assistant' ? messages.slice(0, -1) : messages;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ id: chatId, messages: settled }));
  }, [chatId, messages, status]);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (input.trim() === '') return;
    void sendMessage({ text: input });
    setInput('');
  };

  /** Stop: the tab's stream (useChat's stop) and the model call (the server's DELETE). */
  const onStop = async () => {
    await Promise.all([stop(), fetch(`${API}/${encodeURIComponent(chatId)}/stream`, { method: 'DELETE' })]);
  };

  const answers = messages.filter((m) => m.role === 'assistant');
  return (
    <section data-testid="ai-chat" data-chat-id={chatId} data-status={status}>
      <ol className="messages">
        {messages.map((message) => (
          <li key={message.id} data-role={message.role}>
            <strong>{message.role === 'user' ? 'You' : 'Bot'}:</strong> {textOf(message)}
          </li>
        ))}
      </ol>
      <p data-testid="answer" data-answers={answers.length}>
        {textOf(answers.at(-1))}
      </p>
      <form onSubmit={onSubmit}>
        <label>
          Message{' '}
          <input name="message" value={input} onChange={(e) => setInput(e.target.value)} autoComplete="off" />
        </label>{' '}
        <button type="submit" disabled={status !== 'ready' && status !== 'error'}>
          Send
        </button>{' '}
        <button
          type="button"
          onClick={() => void onStop()}
          disabled={status !== 'streaming' && status !== 'submitted'}
        >
          Stop
        </button>{' '}
        <button type="button" onClick={onNewChat}>
          New chat
        </button>
      </form>
      <p className="stats">
        chat <code>{chatId}</code>, status <output data-testid="status">{status}</output>
        {error && <span role="alert"> ({error.message})</span>}
      </p>
    </section>
  );
}
