/**
 * The AI chat's mock model: it "answers" with a canned reply streamed as the AI SDK's UI message
 * chunks (`start`, `text-start`, one `text-delta` per word, `text-end`, `finish`), one word every
 * 120 ms, so a reply lasts several seconds: long enough to reload or stop mid-reply. No network.
 *
 * It keeps a record of every model call of this process, per chat (`GET /api/ai/runs/<chatId>`),
 * so that the end-to-end test (or you, with curl) can see from the server side how many times
 * the model ran for a chat and whether a call completed or was aborted.
 */
import type { UIMessageChunk } from 'ai';
import { isReplyStoppedError } from 'ssekit/replies';

/** Milliseconds between two words. */
export const WORD_DELAY_MS = 120;

/** What this process knows about one model call. */
export interface ModelRun {
  chatId: string;
  /** The reply's id (the last segment of its URL). */
  replyId: string;
  state: 'streaming' | 'completed' | 'aborted';
  /** Words handed to the stream so far. */
  sent: number;
  /** Words in the whole answer. */
  total: number;
  /** Why an aborted call was aborted (`stopped` for a DELETE or a newer turn of the chat). */
  reason?: string;
}

const MAX_CHATS = 256;

// The same registry for every route bundle of the process (a registered symbol on globalThis).
const RUNS_KEY = Symbol.for('ssekit.examples.next.model-runs');

function registry(): Map<string, ModelRun[]> {
  const scope = globalThis as typeof globalThis & { [RUNS_KEY]?: Map<string, ModelRun[]> };
  scope[RUNS_KEY] ??= new Map();
  return scope[RUNS_KEY];
}

/** The model calls this process made for chat `chatId`, oldest first. */
export function modelRuns(chatId: string): ModelRun[] {
  return (registry().get(chatId) ?? []).map((run) => ({ ...run }));
}

/** The answer to `question`, as the words the model streams (each but the first with its space). */
export function answerTo(question: string): string[] {
  const quoted = question.length > 48 ? `${question.slice(0, 47)}…` : question;
  const text =
    `You asked: "${quoted}". I am a mock model, so here is my usual answer, one word at a time, ` +
    'as the AI SDK streams text deltas. The reply runs once on the server, detached from your ' +
    'request: reload the page and it continues where it is, on any instance; press Stop and ' +
    'the model call is aborted.';
  return text.split(/(?= )/);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One model call: the answer to `question` as UI message chunks. `signal` is the reply's: it
 * aborts when the reply is stopped (a `DELETE`, on any instance) or ends early otherwise; a
 * reload does not abort it. Either way the `finally` block records how the call ended.
 */
export async function* mockModel(
  question: string,
  options: { chatId: string; replyId: string; signal: AbortSignal },
): AsyncGenerator<UIMessageChunk, void, undefined> {
  const { chatId, replyId, signal } = options;
  const words = answerTo(question);
  const run: ModelRun = { chatId, replyId, state: 'streaming', sent: 0, total: words.length };
  const runs = registry();
  runs.set(chatId, [...(runs.get(chatId) ?? []), run]);
  if (runs.size > MAX_CHATS) runs.delete(runs.keys().next().value as string);
  console.log(`[ai-chat] chat ${chatId}: model call for reply ${replyId}, ${words.length} words`);
  try {
    yield { type: 'start' };
    yield { type: 'text-start', id: 'text-1' };
    for (const word of words) {
      await sleep(WORD_DELAY_MS, signal);
      if (signal.aborted) return;
      run.sent += 1;
      yield { type: 'text-delta', id: 'text-1', delta: word };
    }
    yield { type: 'text-end', id: 'text-1' };
    yield { type: 'finish' };
    run.state = 'completed';
  } finally {
    if (run.state === 'streaming') {
      run.state = 'aborted';
      const reason: unknown = signal.reason;
      run.reason = isReplyStoppedError(reason) ? reason.reason : 'cancelled';
      console.log(
        `[ai-chat] chat ${chatId}: model call aborted (${run.reason}) after ${run.sent}/${run.total} words`,
      );
    } else {
      console.log(`[ai-chat] chat ${chatId}: model call completed, ${run.total} words`);
    }
  }
}
