// @ts-check
// Web-standard handlers shared by every example: they only use ssekit/server (Request in,
// Response out), so the same code runs in Node, Deno, Bun, workers. Each example folder shows
// how one framework mounts them.
import { createEventStream, readLastEventId, streamEvents } from 'ssekit/server';

/**
 * GET /events: a live feed, one `tick` event per `interval` ms, resumable: a client that
 * reconnects with Last-Event-ID (or ?lastEventId=) continues after the id it saw.
 *
 * @param {Request} request
 * @param {{ interval?: number, onOpen?: () => void, onClose?: () => void }} [options]
 */
export function feed(request, { interval = 1000, onOpen, onClose } = {}) {
  const lastId = Number(readLastEventId(request));
  let next = Number.isSafeInteger(lastId) && lastId >= 0 ? lastId + 1 : 0;
  const stream = createEventStream({ signal: request.signal, retry: 2000 });
  onOpen?.();
  const timer = setInterval(() => {
    const id = next++;
    void stream.send({ id: String(id), event: 'tick', data: JSON.stringify({ n: id, at: Date.now() }) });
  }, interval);
  // The client left (or the stream overflowed): stop producing.
  stream.signal.addEventListener('abort', () => {
    clearInterval(timer);
    onClose?.();
  });
  return stream.response;
}

/**
 * The mock bot: streams a reply character by character, stopping as soon as `signal` aborts.
 *
 * @param {string} message
 * @param {AbortSignal} signal
 * @param {number} delay ms between characters
 */
async function* mockReply(message, signal, delay) {
  const reply = `You said: "${message}". Streaming every character as its own event proves nothing is buffered on the way.`;
  for (const content of reply) {
    await new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(undefined);
      };
      const timer = setTimeout(done, delay);
      signal.addEventListener('abort', done);
    });
    if (signal.aborted) return;
    yield { event: 'message', data: JSON.stringify({ role: 'assistant', content }) };
  }
}

/**
 * The bot's reply to `message` as an event stream: `event: message` with JSON
 * `{ role: 'assistant', content }`, one character per event.
 *
 * @param {string} message
 * @param {{ delay?: number, signal?: AbortSignal }} [options]
 */
export function chatReply(message, { delay = 20, signal } = {}) {
  return streamEvents((streamSignal) => mockReply(message, streamSignal, delay), {
    ...(signal ? { signal } : {}),
    onError: (error) => console.error('chat failed', error),
    // Tell the client something generic, never the error itself.
    errorEvent: () => ({ event: 'error', data: JSON.stringify({ message: 'The reply failed.' }) }),
  });
}

/**
 * POST /chat with JSON `{ message }`.
 *
 * @param {Request} request
 * @param {{ delay?: number }} [options]
 */
export async function chat(request, options = {}) {
  /** @type {unknown} */
  let body;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: 'expected a JSON body' }, { status: 400 });
  }
  const message = typeof body === 'object' && body !== null && 'message' in body ? body.message : undefined;
  if (typeof message !== 'string' || message.length > 2000) {
    return Response.json(
      { error: 'expected { message: string } (at most 2000 characters)' },
      { status: 400 },
    );
  }
  return chatReply(message, { ...options, signal: request.signal });
}
