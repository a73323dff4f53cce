/**
 * App Router route handler: POST /api/chat starts the mock bot's reply with `ssekit/replies` and
 * streams it, with `Content-Location: /api/replies/<id>` where a reloaded page resumes it.
 */
import { after } from 'next/server';
import { chatEvents, readChat } from '../../../lib/chat';
import { replies } from '../../../lib/replies';

// Never prerender or cache: every POST is a new reply.
export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const chat = await readChat(request);
  if (chat instanceof Response) return chat; // 400, 405, 413 or 415
  // Runs once, detached from this request: a reload does not stop it, a DELETE does (`signal`).
  return replies.start(
    request,
    ({ id, signal }) => chatEvents(chat.question, { id, router: 'app', signal }),
    {
      // `next start` keeps its process running; on serverless, after() keeps the function alive
      // until the reply has ended.
      waitUntil: after,
    },
  );
}
