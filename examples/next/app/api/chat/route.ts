// App Router: a route handler returns the Response of ssekit/server directly.
import { botResponse, messageOf } from '../../../lib/bot';

export const dynamic = 'force-dynamic';

export async function POST(request: Request): Promise<Response> {
  const message = messageOf(await request.json().catch(() => undefined));
  if (message === undefined) return Response.json({ error: 'expected { message: string }' }, { status: 400 });
  // request.signal aborts when the client goes away: the bot stops with it.
  return botResponse(message, request.signal);
}
