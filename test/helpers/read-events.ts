import { createParser, type ServerSentEvent } from '../../src/index.js';

/**
 * Reads a response's events until `enough` says so or the stream ends; then lets go of the body
 * (a reader that stops early is a client that went away).
 */
export async function readEventsUntil(
  response: Response,
  enough?: (events: ServerSentEvent[]) => boolean,
): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      if (enough?.(events)) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}
