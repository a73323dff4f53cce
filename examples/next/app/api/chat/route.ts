/**
 * App Router route handler: POST /api/chat streams the mock bot's reply with `ssekit/server`.
 * Next.js hands the returned Response's body to the client as it is produced; ssekit's headers
 * (`Cache-Control: no-cache, no-transform`, `X-Accel-Buffering: no`) keep Next's compression
 * and any proxy in between from holding it back.
 */
import { chatResponse } from '../../../lib/chat';

// Never prerender or cache: every POST is a new reply.
export const dynamic = 'force-dynamic';

export function POST(request: Request): Promise<Response> {
  return chatResponse(request, 'app');
}
