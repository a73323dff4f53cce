/**
 * The AI chat's backend: one `createChatReplies` per process, shared by the routes under
 * `/api/ai/chat` (the endpoints `useChat({ resume: true })` and its default transport expect).
 *
 * With `REDIS_URL` set, replies live on Redis (`createRedisBroker` from `ssekit/redis`), so any
 * number of `next start` instances serve the same chats: a reply started on one resumes and
 * stops on another. Without it, they live in this process's memory (one instance).
 * `REDIS_PREFIX` (optional) sets the keys' prefix, e.g. to keep two apps on one Redis apart.
 *
 * Created on first use rather than at import, so that `next build` (which imports the route
 * modules) never opens a Redis connection.
 */
import { type ChatReplies, createChatReplies } from 'ssekit/ai-sdk';
import { createRedisBroker } from 'ssekit/redis';

/** Where `useChat`'s transport points (`api`): POST here, resume and stop at `<api>/<chatId>/stream`. */
export const AI_CHAT_API = '/api/ai/chat';

const CHAT_KEY = Symbol.for('ssekit.examples.next.ai-chat');

export function aiChat(): ChatReplies {
  const scope = globalThis as typeof globalThis & { [CHAT_KEY]?: ChatReplies };
  scope[CHAT_KEY] ??= createChatReplies({
    api: AI_CHAT_API,
    ...(process.env.REDIS_URL
      ? {
          broker: createRedisBroker({
            url: process.env.REDIS_URL,
            ...(process.env.REDIS_PREFIX ? { prefix: process.env.REDIS_PREFIX } : {}),
          }),
        }
      : {}),
  });
  return scope[CHAT_KEY];
}
