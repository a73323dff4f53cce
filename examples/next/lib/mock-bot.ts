/**
 * The mock bot: it "answers" a chat by streaming a canned reply one character at a time, paced
 * like a language model (20-40 ms per character), and it keeps a small record of every run so
 * that anyone (the end-to-end test, or you with curl) can see from the server side whether the
 * producer finished or stopped because the client went away.
 *
 * Server-only. Shared by the App Router route handler and the Pages Router API route.
 */
import { isReplyStoppedError } from 'ssekit/replies';

/** Which of the two routes served a run. */
export type RouterName = 'app' | 'pages';

/** Where a run stands: the producer is still writing, wrote everything, or stopped early. */
export type RunState = 'streaming' | 'completed' | 'stopped';

/** What the server knows about one reply. */
export interface RunRecord {
  id: string;
  router: RouterName;
  state: RunState;
  /** Characters the producer has handed to the stream so far. */
  sent: number;
  /** Characters in the full reply. */
  total: number;
  /** Epoch milliseconds. */
  startedAt: number;
  /** Epoch milliseconds at which the producer's loop was left, for good. */
  endedAt?: number;
}

/** The message shape of each event's JSON data (the classic mock-bot chat example). */
export interface ChatDelta {
  role: 'assistant';
  content: string;
}

/** Milliseconds between two characters: pacing of a fast language model. */
export const MIN_DELAY_MS = 20;
export const MAX_DELAY_MS = 40;

/** The registry keeps the latest runs only: a chat server must not grow with its history. */
const MAX_RUNS = 256;

// Next.js bundles the App Router and the Pages Router separately, so a module-level Map would
// exist twice in one process. A registered symbol on globalThis is the same in both bundles.
const RUNS_KEY = Symbol.for('ssekit.examples.next.runs');

function runs(): Map<string, RunRecord> {
  const scope = globalThis as typeof globalThis & { [RUNS_KEY]?: Map<string, RunRecord> };
  scope[RUNS_KEY] ??= new Map();
  return scope[RUNS_KEY];
}

/** The record of run `id`, or `undefined` once it has aged out of the registry (or never was). */
export function getRun(id: string): RunRecord | undefined {
  const run = runs().get(id);
  return run && { ...run };
}

/** The reply the bot gives to `question`: a few hundred characters. */
export function replyTo(question: string): string {
  const quoted = question.length > 48 ? `${question.slice(0, 47)}…` : question;
  return (
    `You asked: "${quoted}". I am a mock bot, so here is my usual answer, one character at a ` +
    'time, the way a language model streams its tokens. Each character is its own Server-Sent ' +
    'Event. Press Stop and the server notices at once and stops writing.'
  );
}

/** A deterministic 20-40 ms per character, so runs are comparable yet not metronomic. */
function delayFor(index: number): number {
  const jitter = ((index * 2654435761) >>> 0) % (MAX_DELAY_MS - MIN_DELAY_MS + 1);
  return MIN_DELAY_MS + jitter;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Why a run stopped early: a resumable reply's signal aborts with a `ReplyStoppedError` saying
 * why (`stopped` for a DELETE); a plain stream's, when its client went away.
 */
function stopCause(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return isReplyStoppedError(reason) ? `reply ${reason.reason}` : 'client disconnected';
}

/**
 * Streams `reply` one character at a time, recording progress under `id`.
 *
 * Stopping is the point of this example: the generator ends either because the stream called its
 * `return()` (the ssekit server does that when the client disconnects) or because `signal`
 * aborted (a resumable reply's on DELETE; a reload does not stop it). Either way its `finally`
 * runs, records `stopped` and logs one line.
 */
export async function* mockReply(
  reply: string,
  options: { id: string; router: RouterName; signal?: AbortSignal },
): AsyncGenerator<ChatDelta, void, undefined> {
  const { id, router, signal } = options;
  const registry = runs();
  const run: RunRecord = {
    id,
    router,
    state: 'streaming',
    sent: 0,
    total: reply.length,
    startedAt: Date.now(),
  };
  registry.set(id, run);
  if (registry.size > MAX_RUNS) {
    // Maps iterate in insertion order: the first key is the oldest run.
    const oldest = registry.keys().next().value;
    if (oldest !== undefined) registry.delete(oldest);
  }
  console.log(`[chat:${router}] run ${id}: streaming ${reply.length} characters`);
  try {
    // Array.from walks code points, so an emoji is one token rather than two broken halves.
    for (const char of Array.from(reply)) {
      await sleep(delayFor(run.sent), signal);
      if (signal?.aborted) return;
      run.sent += char.length;
      yield { role: 'assistant', content: char };
    }
    run.state = 'completed';
  } finally {
    run.endedAt = Date.now();
    if (run.state === 'streaming') {
      run.state = 'stopped';
      console.log(
        `[chat:${router}] run ${id}: ${stopCause(signal)} after ${run.sent}/${run.total} characters; producer stopped`,
      );
    } else {
      console.log(`[chat:${router}] run ${id}: completed in ${run.endedAt - run.startedAt} ms`);
    }
  }
}
