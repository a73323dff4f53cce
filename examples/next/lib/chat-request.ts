/**
 * Reading a chat request: `{ messages: [{ role, content }, ...] }` (the usual chat shape) or
 * `{ message: '...' }`, with an optional client-chosen run `id`. Web standards only, so the App
 * Router and the Pages Router (through `ssekit/node`) share it.
 */

import { isRequestBodyError, readBodyText } from 'ssekit/server';

/** The largest request body read; a chat request is small, and a bigger one is refused unread. */
export const MAX_BODY_BYTES = 32 * 1024;

/** A client-chosen run id: short and plain, since it lands in logs and URLs. */
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface ChatRequest {
  /** The last user message. */
  question: string;
  /** The run id: the client's when it sent a valid one, otherwise a fresh one. */
  id: string;
}

/** A request the chat routes refuse, with the HTTP status that says why. */
export class ChatRequestError extends Error {
  override name = 'ChatRequestError' as const;
  constructor(
    readonly status: 400 | 405 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON error response for a refused request. */
export function errorResponse(error: ChatRequestError): Response {
  return Response.json(
    { error: error.message },
    { status: error.status, headers: error.status === 405 ? { Allow: 'POST' } : {} },
  );
}

function lastUserMessage(messages: unknown): string | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message: unknown = messages[i];
    if (typeof message !== 'object' || message === null) continue;
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (role === 'user' && typeof content === 'string') return content;
  }
  return undefined;
}

/** Validates and reads a chat request; throws a {@link ChatRequestError} for anything else. */
export async function readChatRequest(request: Request): Promise<ChatRequest> {
  if (request.method !== 'POST') throw new ChatRequestError(405, 'use POST');
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ChatRequestError(415, 'send application/json');
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBodyText(request, { maxBytes: MAX_BODY_BYTES }));
  } catch (error) {
    // Refused unread past the bound: a chat request is small.
    if (isRequestBodyError(error) && error.type === 'too-large') {
      throw new ChatRequestError(413, `body over ${MAX_BODY_BYTES} bytes`);
    }
    throw new ChatRequestError(400, 'body is not JSON');
  }
  if (typeof body !== 'object' || body === null) throw new ChatRequestError(400, 'body is not an object');
  const { message, messages, id } = body as { message?: unknown; messages?: unknown; id?: unknown };
  const question = typeof message === 'string' ? message : lastUserMessage(messages);
  if (question === undefined || question.trim() === '') {
    throw new ChatRequestError(400, 'send { message } or { messages: [{ role: "user", content }] }');
  }
  return {
    question: question.trim(),
    id: typeof id === 'string' && RUN_ID.test(id) ? id : crypto.randomUUID(),
  };
}
