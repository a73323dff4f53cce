'use client';

/**
 * The chat page's client side, with `ssekit/client`'s `connect`:
 *
 * - App Router (`POST /api/chat`): a resumable reply. The POST's response names the reply's URL
 *   (`Content-Location`); every event shown is saved with its id in sessionStorage, so after a
 *   reload the page resumes with a GET of that URL and `Last-Event-ID`, and gets the rest of the
 *   reply exactly once. Stop sends DELETE to that URL: the server stops the producer and the
 *   stream ends with `event: end`, `{"reason":"stopped"}`.
 * - Pages Router (`POST /api/chat-pages`): a plain stream tied to its request; Stop aborts the
 *   request and the server, seeing the disconnect, stops the producer.
 */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { type Connection, connect, type ServerSentEvent } from 'ssekit/client';
import {
  clearPending,
  loadPending,
  type PendingReply,
  replyIdOf,
  savePending,
  type Turn,
} from './pending-reply';

type RouterName = 'app' | 'pages';

const ROUTES: Record<RouterName, { label: string; path: string }> = {
  app: { label: 'App Router, resumable', path: '/api/chat' },
  pages: { label: 'Pages Router', path: '/api/chat-pages' },
};

type RunState = 'streaming' | 'done' | 'stopped' | 'error';

interface Run {
  /** The reply's id (App Router: the last segment of its URL), or the run id the page chose. */
  id: string;
  router: RouterName;
  state: RunState;
  events: number;
  /** performance.now() when the request was sent, at the first and at the last event. */
  sentAt: number;
  firstAt?: number;
  lastAt?: number;
  error?: string;
  /** App Router: the reply's URL, where Stop sends DELETE. */
  url?: string;
  /** App Router: the reason its `end` event gave (done, stopped, ...). */
  endReason?: string;
  /** App Router: this page resumed the reply after a reload. */
  resumed?: boolean;
}

/** How a run ended, as the page shows it; `undefined` when the page itself went away. */
type Outcome = Pick<Run, 'state' | 'error' | 'endReason'> | undefined;

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
const JSON_HEADERS = { 'Content-Type': 'application/json' };

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

/** Files the timings recorded under `from` under `to` (the reply's id, known once the POST answers). */
function renameTimings(from: string, to: string): void {
  const timings = window.__ssekitChat;
  const entry = timings?.[from];
  if (!timings || !entry) return;
  delete timings[from];
  timings[to] = entry;
}

function isAssistantDelta(value: unknown): value is { role: 'assistant'; content: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { role?: unknown }).role === 'assistant' &&
    typeof (value as { content?: unknown }).content === 'string'
  );
}

function endReasonOf(data: string): string {
  try {
    const { reason } = JSON.parse(data) as { reason?: unknown };
    return typeof reason === 'string' ? reason : 'unknown';
  } catch {
    return 'unknown';
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Reads `connection` until the reply's `end` event and returns its reason; `undefined` when the
 * stream ended first. `show` gets each assistant delta with its event.
 */
async function readReply(
  connection: Connection,
  show: (content: string, event: ServerSentEvent) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  for await (const event of connection) {
    if (signal.aborted) return undefined;
    // Leaving the loop closes the connection: after `end` the server has nothing more.
    if (event.event === 'end') return endReasonOf(event.data);
    if (event.event !== 'message') continue;
    const delta: unknown = JSON.parse(event.data);
    if (isAssistantDelta(delta)) show(delta.content, event);
  }
  return undefined;
}

/**
 * Follows a resumable reply to its `end` event: the POST's own stream first when there is one,
 * then, if that stream ended early (a dropped connection) or after a reload, a GET of the
 * reply's URL with `Last-Event-ID`, which replays what followed that event and goes on live.
 * Each event shown is saved with its id before it is shown (pending-reply.ts).
 */
async function followReply(
  reply: PendingReply,
  post: Connection | undefined,
  signal: AbortSignal,
  show: (content: string) => void,
): Promise<Outcome> {
  const showAndSave = (content: string, event: ServerSentEvent) => {
    reply.content += content;
    reply.lastEventId = event.id;
    reply.events += 1;
    savePending(reply);
    show(content);
  };
  let endReason: string | undefined;
  try {
    if (post) {
      try {
        endReason = await readReply(post, showAndSave, signal);
      } catch (error) {
        // Before the reply had a URL there is nothing to resume.
        if (reply.url === '' || signal.aborted) throw error;
      }
    }
    if (endReason === undefined && !signal.aborted) {
      // Reconnects by itself (with the latest Last-Event-ID) if this connection drops too;
      // gives up on a 404 (an unknown or expired reply).
      const resumed = connect(reply.url, { lastEventId: reply.lastEventId, signal });
      endReason = await readReply(resumed, showAndSave, signal);
    }
  } catch (error) {
    // The page going away (a reload) keeps the reply pending: the next page resumes it.
    if (signal.aborted) return undefined;
    clearPending();
    return { state: 'error', error: describe(error) };
  }
  if (signal.aborted) return undefined;
  clearPending();
  if (endReason === undefined) return { state: 'error', error: 'the reply ended without its end event' };
  const state: RunState = endReason === 'done' ? 'done' : endReason === 'stopped' ? 'stopped' : 'error';
  return { state, endReason };
}

export function Chat() {
  const [router, setRouter] = useState<RouterName>('app');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState('How does streaming work?');
  const [run, setRun] = useState<Run | null>(null);
  const [hydrated, setHydrated] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  const streaming = run?.state === 'streaming';

  /** Appends one delta to the reply on screen. */
  function show(content: string, received?: number[]) {
    const now = performance.now();
    received?.push(now);
    setTurns((all) => {
      const last = all[all.length - 1]!;
      return [...all.slice(0, -1), { ...last, content: last.content + content }];
    });
    setRun((r) => r && { ...r, events: r.events + 1, firstAt: r.firstAt ?? now, lastAt: now });
  }

  function settle(controller: AbortController, outcome: Outcome) {
    if (abortRef.current === controller) abortRef.current = null;
    if (outcome) setRun((r) => r && { ...r, ...outcome });
  }

  // Runs once, after hydration: a reply that a previous page of this tab left running goes on.
  // biome-ignore lint/correctness/useExhaustiveDependencies: on mount only; show and settle only set state
  useEffect(() => {
    setHydrated(true);
    const pending = loadPending();
    if (pending) {
      const controller = new AbortController();
      abortRef.current = controller;
      setRouter('app');
      setTurns([...pending.turns, { role: 'assistant', content: pending.content }]);
      setRun({
        id: replyIdOf(pending.url),
        router: 'app',
        state: 'streaming',
        events: pending.events,
        sentAt: performance.now(),
        url: pending.url,
        resumed: true,
      });
      void followReply(pending, undefined, controller.signal, (content) => show(content)).then((outcome) =>
        settle(controller, outcome),
      );
    }
    // Leaving the page closes the connection: that stops a Pages Router reply; an App Router
    // reply goes on on the server, and a reload resumes it.
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
    const outcome =
      router === 'app'
        ? await sendResumable(history, id, controller.signal, received)
        : await sendPlain(history, id, controller.signal, received);
    settle(controller, outcome);
  }

  function sendResumable(history: Turn[], id: string, signal: AbortSignal, received: number[]) {
    const reply: PendingReply = { url: '', lastEventId: '', turns: history, content: '', events: 0 };
    const post = connect(ROUTES.app.path, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ messages: history }),
      signal,
      // Never POST the question again: a lost connection resumes from the reply's URL instead.
      reconnect: false,
      onOpen(response) {
        const location = response.headers.get('content-location');
        if (location === null) throw new Error('no Content-Location: this reply cannot be resumed');
        reply.url = new URL(location, response.url).pathname;
        savePending(reply);
        const replyId = replyIdOf(reply.url);
        renameTimings(id, replyId);
        setRun((r) => r && { ...r, id: replyId, url: reply.url });
      },
    });
    return followReply(reply, post, signal, (content) => show(content, received));
  }

  async function sendPlain(history: Turn[], id: string, signal: AbortSignal, received: number[]) {
    try {
      const connection = connect(ROUTES.pages.path, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ id, messages: history }),
        signal,
        // A finished reply is finished: never POST the question again on our own.
        reconnect: false,
      });
      await readReply(connection, (content) => show(content, received), signal);
    } catch (caught) {
      if (!signal.aborted) return { state: 'error', error: describe(caught) } satisfies Outcome;
    }
    return { state: signal.aborted ? 'stopped' : 'done' } satisfies Outcome;
  }

  function stop() {
    if (run?.router !== 'app') {
      abortRef.current?.abort();
      return;
    }
    // The server stops the producer; this page's stream then ends with `end` {"reason":"stopped"}.
    if (run.url) void fetch(run.url, { method: 'DELETE' }).catch(() => {});
  }

  const last = turns[turns.length - 1];
  const canStop = streaming && (run.router === 'pages' || run.url !== undefined);
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
                  data-end-reason={run.endReason}
                  data-resumed={run.resumed}
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
        <button type="button" onClick={stop} disabled={!canStop}>
          Stop
        </button>
      </form>

      {run && (
        <p className="stats" data-testid="stats">
          {ROUTES[run.router].label}: {run.events} events
          {run.resumed && <> (resumed after a reload)</>}
          {run.firstAt !== undefined && <>, first after {Math.round(run.firstAt - run.sentAt)} ms</>}
          {run.lastAt !== undefined && <>, last after {Math.round(run.lastAt - run.sentAt)} ms</>},{' '}
          {run.state}
          {run.endReason && run.endReason !== run.state && <> ({run.endReason})</>}
          {run.error && <> ({run.error})</>}
        </p>
      )}
    </main>
  );
}
