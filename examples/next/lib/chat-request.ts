/**
 * Reading a chat request: `{ messages: [{ role, content }, ...] }` (the usual chat shape) or
 * `{ message: '...' }`, with an optional client-chosen run `id`. Web standards only, so the App
 * Router and the Pages Router (through `ssekit/node`) share it.
 */

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

async function readBounded(request: Request): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new ChatRequestError(413, `body over ${MAX_BODY_BYTES} bytes`);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      // Stop reading (and let the peer know) rather than buffer what we will refuse anyway.
      await reader.cancel();
      throw new ChatRequestError(413, `body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(body);
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
    body = JSON.parse(await readBounded(request));
  } catch (error) {
    if (error instanceof ChatRequestError) throw error;
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
