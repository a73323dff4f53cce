'use client';

/**
 * The chat page's client side: POSTs the conversation to either route with `ssekit/client`,
 * shows the reply growing one event at a time, and Stop aborts the request (the server notices
 * the disconnect and stops its producer).
 */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { connect } from 'ssekit/client';

type RouterName = 'app' | 'pages';

const ROUTES: Record<RouterName, { label: string; path: string }> = {
  app: { label: 'App Router', path: '/api/chat' },
  pages: { label: 'Pages Router', path: '/api/chat-pages' },
};

interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

type RunState = 'streaming' | 'done' | 'stopped' | 'error';

interface Run {
  id: string;
  router: RouterName;
  state: RunState;
  events: number;
  /** performance.now() when the request was sent, at the first and at the last event. */
  sentAt: number;
  firstAt?: number;
  lastAt?: number;
  error?: string;
}

/** Arrival times of every event of the latest runs, for whoever wants to look (the e2e test). */
interface Timings {
  [runId: string]: { router: RouterName; sentAt: number; received: number[] };
}

declare global {
  interface Window {
    __ssekitChat?: Timings;
  }
}

const KEPT_TIMINGS = 20;

function newRunId(): string {
  // getRandomValues works on plain-http origins too, where crypto.randomUUID is missing.
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function recordTimings(id: string, router: RouterName, sentAt: number): number[] {
  window.__ssekitChat ??= {};
  const timings = window.__ssekitChat;
  const keys = Object.keys(timings);
  if (keys.length >= KEPT_TIMINGS) delete timings[keys[0]!];
  const received: number[] = [];
  timings[id] = { router, sentAt, received };
  return received;
}

function isAssistantDelta(value: unknown): value is { role: 'assistant'; content: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { role?: unknown }).role === 'assistant' &&
    typeof (value as { content?: unknown }).content === 'string'
  );
}

export function Chat() {
  const [router, setRouter] = useState<RouterName>('app');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState('How does streaming work?');
  const [run, setRun] = useState<Run | null>(null);
  const [hydrated, setHydrated] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  const streaming = run?.state === 'streaming';

  useEffect(() => {
    setHydrated(true);
    // Leaving the page stops the reply too.
    return () => abortRef.current?.abort();
  }, []);

  async function send(event: FormEvent) {
    event.preventDefault();
    const question = draft.trim();
    if (!question || streaming) return;
    const history: Turn[] = [...turns, { role: 'user', content: question }];
    setTurns([...history, { role: 'assistant', content: '' }]);
    setDraft('');

    const controller = new AbortController();
    abortRef.current = controller;
    const id = newRunId();
    const sentAt = performance.now();
    const received = recordTimings(id, router, sentAt);
    setRun({ id, router, state: 'streaming', events: 0, sentAt });

    let state: RunState = 'done';
    let error: string | undefined;
    try {
      const connection = connect(ROUTES[router].path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ id, messages: history }),
        signal: controller.signal,
        // A finished reply is finished: never POST the question again on our own.
        retry: false,
      });
      for await (const message of connection) {
        if (message.event !== 'message') continue;
        const now = performance.now();
        received.push(now);
        const delta: unknown = JSON.parse(message.data);
        if (!isAssistantDelta(delta)) continue;
        setTurns((all) => {
          const last = all[all.length - 1]!;
          return [...all.slice(0, -1), { ...last, content: last.content + delta.content }];
        });
        setRun((r) => r && { ...r, events: r.events + 1, firstAt: r.firstAt ?? now, lastAt: now });
      }
    } catch (caught) {
      if (!controller.signal.aborted) {
        state = 'error';
        error = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
      }
    }
    if (controller.signal.aborted) state = 'stopped';
    abortRef.current = null;
    setRun((r) => r && { ...r, state, ...(error === undefined ? {} : { error }) });
  }

  function stop() {
    abortRef.current?.abort();
  }

  const last = turns[turns.length - 1];
  return (
    // data-hydrated tells a test (or you) that the buttons now run this code.
    <main data-hydrated={hydrated}>
      <h1>ssekit chat</h1>
      <fieldset disabled={streaming}>
        <legend>Route</legend>
        {(Object.keys(ROUTES) as RouterName[]).map((name) => (
          <label key={name}>
            <input
              type="radio"
              name="router"
              value={name}
              checked={router === name}
              onChange={() => setRouter(name)}
            />
            {ROUTES[name].label} <code>POST {ROUTES[name].path}</code>
          </label>
        ))}
      </fieldset>

      <ol className="transcript">
        {turns.map((turn, i) => {
          const isReply = turn === last && turn.role === 'assistant' && run !== null;
          return (
            // A transcript only grows at its end, so the position is a stable key.
            // biome-ignore lint/suspicious/noArrayIndexKey: see above
            <li key={i} className={turn.role}>
              <span className="who">{turn.role === 'user' ? 'You' : 'Bot'}</span>
              {isReply ? (
                <output
                  data-testid="reply"
                  data-run-id={run.id}
                  data-router={run.router}
                  data-state={run.state}
                  data-events={run.events}
                >
                  {turn.content}
                </output>
              ) : (
                <span>{turn.content}</span>
              )}
            </li>
          );
        })}
      </ol>

      <form onSubmit={send}>
        <input
          aria-label="Message"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          placeholder="Ask the mock bot something"
        />
        <button type="submit" disabled={streaming || !draft.trim()}>
          Send
        </button>
        <button type="button" onClick={stop} disabled={!streaming}>
          Stop
        </button>
      </form>

      {run && (
        <p className="stats" data-testid="stats">
          {ROUTES[run.router].label}: {run.events} events
          {run.firstAt !== undefined && <>, first after {Math.round(run.firstAt - run.sentAt)} ms</>}
          {run.lastAt !== undefined && <>, last after {Math.round(run.lastAt - run.sentAt)} ms</>},{' '}
          {run.state}
          {run.error && <> ({run.error})</>}
        </p>
      )}
    </main>
  );
}
