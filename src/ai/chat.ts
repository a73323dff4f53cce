/**
 * The endpoints `useChat` (`@ai-sdk/react`) and its default transport expect, on resumable
 * replies: `POST <api>` starts a reply (the transport's request body: `id`, `messages`,
 * `trigger`, `messageId`), `GET <api>/<chatId>/stream` resumes the chat's active reply from its
 * start (what `resume: true` sends on load; `204` when none runs), and `DELETE
 * <api>/<chatId>/stream` stops it wherever it runs. The chat's active reply is kept on the
 * broker (see `StartOptions.chatId`), so any instance sharing it serves the resume and the stop.
 */
import {
  createReplies,
  type Replies,
  type RepliesCloseOptions,
  type RepliesMetrics,
  type RepliesOptions,
  type StartOptions,
} from '../replies/index.js';
import {
  type ProduceUIMessages,
  UI_MESSAGE_STREAM_HEADERS,
  uiMessageProducer,
  uiMessageStreamEnd,
} from './ui-message-stream.js';

/** Options of {@link createChatReplies}: those of `createReplies`, and the chat's URL. */
export interface ChatRepliesOptions extends Omit<RepliesOptions, 'endEvents'> {
  /**
   * The chat endpoint, as the transport's `api` (its default `'/api/chat'`): `POST` here, resume
   * and stop at `<api>/<chatId>/stream`. Default `'/api/chat'`.
   */
  api?: string;
  /** Reply URLs (`Content-Location`), served by `handler` too. Default `<api>/replies/`. */
  basePath?: string;
}

/** Options of {@link ChatReplies.start}. */
export type ChatStartOptions = Omit<StartOptions, 'chatId'>;

export interface ChatReplies {
  /**
   * For `POST <api>`: starts `produce` once as the chat's active reply (stopping the one before,
   * if it still runs) and answers with the UI message stream of it. The body is yours to read
   * (`const { id, messages } = await request.json()`); pass the chat's `id` as `chatId`.
   */
  start(
    request: Request,
    chatId: string,
    produce: ProduceUIMessages,
    options?: ChatStartOptions,
  ): Promise<Response>;
  /**
   * For `<api>/<chatId>/stream` (`GET`: resume, `DELETE`: stop) and the reply URLs under
   * `basePath` (`GET`, `DELETE`, as `Replies.handler`). Anything else: `404`.
   */
  handler(request: Request): Promise<Response>;
  /** The replies underneath (their `stop`, `metrics`, `close`). */
  readonly replies: Replies;
  metrics(): RepliesMetrics;
  /** As `Replies.close`: running replies get `timeout` (default 5 s) to finish, then end with `shutdown`. */
  close(options?: RepliesCloseOptions): Promise<void>;
}

/** The chat id in `<api>/<chatId>/stream` (the transport encodes it with `encodeURIComponent`). */
function chatIdOf(path: string, api: string): string | undefined {
  const prefix = `${api}/`;
  if (!path.startsWith(prefix) || !path.endsWith('/stream')) return undefined;
  const segment = path.slice(prefix.length, -'/stream'.length);
  if (segment === '' || segment.includes('/')) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Creates the backend of `useChat({ resume: true })` on resumable replies: the model call runs
 * once, detached from the request; a reload resumes it (the transport's `GET`); a stop stops it
 * on any instance, model call included. On the wire it is the AI SDK's UI message stream.
 *
 * @example Next.js App Router, with the AI SDK's `streamText` (`resume: true` in `useChat`):
 * ```ts
 * // app/api/chat/route.ts
 * import { createChatReplies } from 'ssekit/ai-sdk';
 * import { convertToModelMessages, streamText, type UIMessage } from 'ai';
 *
 * export const chat = createChatReplies({ api: '/api/chat' });
 *
 * export async function POST(request: Request) {
 *   const { id, messages } = (await request.json()) as { id: string; messages: UIMessage[] };
 *   return chat.start(request, id, async ({ signal }) =>
 *     streamText({
 *       model: 'openai/gpt-4o-mini',
 *       messages: await convertToModelMessages(messages),
 *       abortSignal: signal, // a stop (DELETE, from any instance) aborts the model call
 *     }).toUIMessageStream(),
 *   );
 * }
 *
 * // app/api/chat/[id]/stream/route.ts: GET resumes, DELETE stops
 * export const GET = (request: Request) => chat.handler(request);
 * export const DELETE = GET;
 * ```
 */
export function createChatReplies(options: ChatRepliesOptions = {}): ChatReplies {
  const api = (options.api ?? '/api/chat').replace(/\/+$/, '');
  if (!api.startsWith('/')) throw new TypeError(`api must be a path starting with '/', got ${api}`);
  const basePath = options.basePath ?? `${api}/replies/`;
  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(UI_MESSAGE_STREAM_HEADERS)) headers.set(name, value);
  const replies = createReplies({ ...options, basePath, headers, endEvents: uiMessageStreamEnd });

  return {
    replies,
    start(request, chatId, produce, startOptions = {}) {
      return replies.start(request, uiMessageProducer(produce), { ...startOptions, chatId });
    },
    async handler(request) {
      const path = new URL(request.url).pathname;
      const chatId = chatIdOf(path, api);
      if (chatId !== undefined) return replies.chatHandler(request, chatId);
      if (path.startsWith(basePath)) return replies.handler(request);
      return new Response('not found\n', {
        status: 404,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    },
    metrics: () => replies.metrics(),
    close: (options) => replies.close(options),
  };
}
