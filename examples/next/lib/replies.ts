/**
 * The replies of this process: one `createReplies()` shared by `POST /api/chat`, which starts a
 * reply, and `/api/replies/[id]`, which resumes (GET) and stops (DELETE) it.
 *
 * Both routes must see this same object: its default broker is in memory, so another instance
 * would answer 404 for a reply it never saw. Next.js bundles each route handler as an entry of
 * its own, yet with `next build && next start` (Next 16, Turbopack) a module both import is
 * evaluated once per process and shared, so a plain module-level constant is enough;
 * test/examples/next-replies.test.ts proves it (a POST on one route, then a GET on the other).
 * No globalThis key is needed for two App Router routes. (The Pages Router is another bundle,
 * which is why lib/mock-bot.ts keys its registry on globalThis; no Pages route uses replies.)
 *
 * Several instances (replicas, serverless) share replies through one broker:
 * `createReplies({ broker: createRedisBroker(), basePath })` with `ssekit/redis`.
 */
import { createReplies } from 'ssekit/replies';

export const replies = createReplies({ basePath: '/api/replies/' });
