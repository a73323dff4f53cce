/**
 * /api/ai/chat/<chatId>/stream: `GET` is what `useChat({ resume: true })` sends on load, the
 * chat's active reply from its start, then live (`204` when none runs); `DELETE` stops it,
 * wherever it runs (the page's Stop button sends it).
 */
import { aiChat } from '../../../../../../lib/ai-chat';

export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
  const response = await aiChat().handler(request);
  console.log(`[ai-chat] ${request.method} ${new URL(request.url).pathname}: ${response.status}`);
  return response;
}

export const DELETE = GET;
