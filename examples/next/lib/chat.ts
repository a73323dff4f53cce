/**
 * The chat endpoint's parts, Web standards only (`Request` in, `Response` out): reading a chat
 * POST and the bot's reply as events. The App Router route runs the reply through
 * `ssekit/replies` (it survives a reload, see lib/replies.ts); the Pages Router route streams it
 * tied to its request, through `chatResponse` and `ssekit/node`.
 */
import { streamEvents } from 'ssekit/server';
import { type ChatRequest, ChatRequestError, errorResponse, readChatRequest } from './chat-request';
import { mockReply, type RouterName, replyTo } from './mock-bot';

/** One event of a reply: `event: message`, data `{"role":"assistant","content":"<char>"}`. */
export interface ChatEvent {
  event: 'message';
  data: string;
}

/** A chat POST read (`{ message }` or `{ messages }`), or the refusal to answer it with. */
export async function readChat(request: Request): Promise<ChatRequest | Response> {
  try {
    return await readChatRequest(request);
  } catch (error) {
    if (error instanceof ChatRequestError) return errorResponse(error);
    throw error;
  }
}

/**
 * The bot's reply to `question`, one event per character. The run is recorded under `id` (see
 * `GET /api/chat/runs/<id>`); `signal` stops it.
 */
export async function* chatEvents(
  question: string,
  options: { id: string; router: RouterName; signal: AbortSignal },
): AsyncGenerator<ChatEvent> {
  for await (const delta of mockReply(replyTo(question), options)) {
    yield { event: 'message', data: JSON.stringify(delta) };
  }
}

/**
 * Answers a chat POST with the bot's reply as Server-Sent Events, tied to the request: when the
 * client goes away, ssekit aborts `signal` and calls the generator's return(), so its finally
 * blocks run and the mock "model call" stops. The `X-Chat-Run` header names the run, whose fate
 * `GET /api/chat/runs/<id>` tells.
 */
export async function chatResponse(request: Request, router: RouterName): Promise<Response> {
  const chat = await readChat(request);
  if (chat instanceof Response) return chat;
  return streamEvents((signal) => chatEvents(chat.question, { id: chat.id, router, signal }), {
    headers: { 'X-Chat-Run': chat.id },
  });
}
