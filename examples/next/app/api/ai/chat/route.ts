/**
 * POST /api/ai/chat, the AI SDK's chat endpoint (`useChat`'s default transport sends `id`,
 * `messages`, `trigger`, `messageId`): starts the mock model's reply as the chat's active reply,
 * detached from this request, and streams it as the AI SDK's UI message stream.
 */
import { after } from 'next/server';
import { isRequestBodyError, readBodyText } from 'ssekit/server';
import { aiChat } from '../../../../lib/ai-chat';
import { mockModel } from '../../../../lib/mock-model';

export const dynamic = 'force-dynamic';

const MAX_BODY_BYTES = 256 * 1024;
const CHAT_ID = /^[A-Za-z0-9_-]{1,64}$/;

interface ChatBody {
  id?: unknown;
  messages?: { role?: unknown; parts?: { type?: unknown; text?: unknown }[] }[];
}

/** The text of the last user message of a `UIMessage[]`. */
function lastUserText(messages: ChatBody['messages']): string | undefined {
  const last = Array.isArray(messages) ? messages.findLast((m) => m?.role === 'user') : undefined;
  if (!Array.isArray(last?.parts)) return undefined;
  const text = last.parts
    .filter((p) => p?.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('');
  return text.trim() === '' ? undefined : text.trim();
}

export async function POST(request: Request): Promise<Response> {
  let body: ChatBody;
  try {
    body = JSON.parse(await readBodyText(request, { maxBytes: MAX_BODY_BYTES })) as ChatBody;
  } catch (error) {
    const tooLarge = isRequestBodyError(error) && error.type === 'too-large';
    return Response.json(
      { error: tooLarge ? 'body too large' : 'body is not JSON' },
      { status: tooLarge ? 413 : 400 },
    );
  }
  const question = lastUserText(body?.messages);
  if (typeof body?.id !== 'string' || !CHAT_ID.test(body.id) || question === undefined) {
    return Response.json({ error: 'send { id, messages } as the AI SDK transport does' }, { status: 400 });
  }
  const chatId = body.id;
  // Runs once: a reload does not stop it; a DELETE of /api/ai/chat/<id>/stream does, on any
  // instance (`signal` aborts and the model's stream is cancelled).
  return aiChat().start(
    request,
    chatId,
    ({ id, signal }) => mockModel(question, { chatId, replyId: id, signal }),
    // `next start` keeps the process running; on serverless, after() keeps the function alive
    // until the reply has ended.
    { waitUntil: after },
  );
}
