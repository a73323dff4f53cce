import { streamEvents } from 'ssekit/server';

/** What the server-side producer did, so the end-to-end test can see a stop reach it. */
export interface BotStats {
  started: number;
  active: number;
  finished: number;
  stopped: number;
  /** Characters produced so far, all replies together. */
  produced: number;
}

// One object for the whole server process: App Router and Pages Router routes are bundled
// separately, so a plain module variable would be two counters.
const store = globalThis as typeof globalThis & { __ssekitBotStats?: BotStats };
const stats: BotStats = (store.__ssekitBotStats ??= {
  started: 0,
  active: 0,
  finished: 0,
  stopped: 0,
  produced: 0,
});

export function botStats(): BotStats {
  return { ...stats };
}

const DELAY_MS = Number(process.env.BOT_DELAY_MS ?? 30);

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** The mock bot: the reply one character at a time, as an LLM streams tokens. */
async function* reply(message: string, signal: AbortSignal) {
  const text = `You said "${message}". This reply is streamed one character per event, so you can watch it arrive while the server is still writing it.`;
  stats.started++;
  stats.active++;
  let completed = false;
  try {
    for (const content of text) {
      // Stands for the upstream call: the signal stops it the moment the client leaves.
      await pause(DELAY_MS, signal);
      if (signal.aborted) return;
      stats.produced++;
      yield { event: 'message', data: JSON.stringify({ role: 'assistant', content }) };
    }
    completed = true;
  } finally {
    stats.active--;
    if (completed) stats.finished++;
    else stats.stopped++;
  }
}

/** The bot's reply as an event stream Response (Web standard: used by both routers). */
export function botResponse(message: string, signal?: AbortSignal): Response {
  return streamEvents((streamSignal) => reply(message, streamSignal), {
    ...(signal ? { signal } : {}),
    onError: (error) => {
      console.error('bot failed', error);
      return { event: 'error', data: JSON.stringify({ message: 'The reply failed.' }) };
    },
  });
}

/** `{ message }` from a parsed JSON body, or undefined. */
export function messageOf(body: unknown): string | undefined {
  const message =
    typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message.length > 0 && message.length <= 2000 ? message : undefined;
}
