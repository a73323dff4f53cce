// The mock bot: no network, no key. Picks a canned answer and streams it word by word with the
// uneven pacing of a real model, so the page's streaming state is visible.

export const ANSWERS = [
  'Server-Sent Events are one long HTTP response in which the server writes small text frames: `data:` lines ended by a blank line. The browser parses them as they arrive, so each token of this reply is painted the moment it is written.',
  'This reply comes from a POST request. The built-in EventSource can only GET, so ssekit/client uses fetch and parses the body itself: headers, a JSON body and an AbortSignal all work. Reload the page and the reply goes on from its URL; press Stop and the server stops producing at once.',
  'Streaming over SSE needs no WebSocket upgrade and passes through proxies as plain HTTP. The catch is buffering: compression and proxies like to hold bytes back. ssekit sends the headers that switch that off (no-transform, X-Accel-Buffering: no).',
];

/** Splits text into word-sized tokens, keeping the spaces, like a tokenizer would. */
export function tokenize(text) {
  return text.match(/\s*\S+/g) ?? [];
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

let replies = 0;

/**
 * The bot's reply as an async generator of `token` events (ssekit/replies appends the `end`
 * event). `signal` aborts when the reply is stopped (DELETE of its URL); `log` reports how it
 * ended, so the terminal shows that Stop really stops the producer.
 */
export async function* reply(message, signal, { log = console.log, delayMs = 45 } = {}) {
  const n = ++replies;
  const quoted = message.slice(0, 80);
  // "You said “Why?”." reads badly: end the sentence only when the message did not.
  const stop = /[.!?]$/.test(quoted) ? '' : '.';
  const answer = `You said “${quoted}”${stop} ${ANSWERS[(n - 1) % ANSWERS.length]}`;
  const tokens = tokenize(answer);
  let sent = 0;
  log(`chat #${n}: streaming ${tokens.length} tokens`);
  try {
    // A model thinks before its first token.
    await sleep(delayMs * 6, signal);
    for (const token of tokens) {
      await sleep(delayMs * (0.4 + Math.random() * 1.2), signal);
      yield { event: 'token', data: token };
      sent++;
    }
    log(`chat #${n}: done`);
  } catch (error) {
    // The reply was stopped mid-wait: that is a stop, not a failure.
    if (!signal.aborted) throw error;
  } finally {
    if (sent < tokens.length) {
      // The signal's reason is a ReplyStoppedError: `stopped` (DELETE), `shutdown`, ...
      const why = signal.aborted ? (signal.reason?.reason ?? 'aborted') : 'ended';
      log(`chat #${n}: reply ${why} after ${sent} tokens; producer stopped`);
    }
  }
}
