/**
 * The chat endpoint as one Web-standard handler (`Request` in, `Response` out). The App Router
 * calls it directly; the Pages Router calls it through `ssekit/node`. Nothing here knows which.
 */
import type { OutgoingEvent } from 'ssekit';
import { streamEvents } from 'ssekit/server';
import { ChatRequestError, errorResponse, readChatRequest } from './chat-request';
import { mockReply, type RouterName, replyTo } from './mock-bot';

/**
 * Answers a chat POST with the bot's reply as Server-Sent Events: one `event: message` per
 * character, data `{"role":"assistant","content":"<char>"}`. The `X-Chat-Run` header names the
 * run, whose fate `GET /api/chat/runs/<id>` tells.
 */
export async function chatResponse(request: Request, router: RouterName): Promise<Response> {
  let chat: Awaited<ReturnType<typeof readChatRequest>>;
  try {
    chat = await readChatRequest(request);
  } catch (error) {
    if (error instanceof ChatRequestError) return errorResponse(error);
    throw error;
  }
  const reply = replyTo(chat.question);
  // The source function gets a signal that aborts when the client goes away; ssekit also calls
  // the generator's return(), so its finally blocks run and the mock "model call" stops.
  return streamEvents(
    async function* (signal): AsyncGenerator<OutgoingEvent> {
      for await (const delta of mockReply(reply, { id: chat.id, router, signal })) {
        yield { event: 'message', data: JSON.stringify(delta) };
      }
    },
    { headers: { 'X-Chat-Run': chat.id } },
  );
}
