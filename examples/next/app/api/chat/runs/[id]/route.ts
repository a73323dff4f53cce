/**
 * GET /api/chat/runs/<id>: what the server knows about one reply (see `RunRecord`): whether the
 * producer is still streaming, completed, or stopped because the client went away. The
 * end-to-end test reads it to prove that Stop on the page stops the server-side producer.
 */
import { getRun } from '../../../../../lib/mock-bot';

export const dynamic = 'force-dynamic';

export async function GET(
  _request: Request,
  context: { params: Promise<{ id: string }> },
): Promise<Response> {
  const { id } = await context.params;
  const run = getRun(id);
  return run
    ? Response.json(run, { headers: { 'Cache-Control': 'no-store' } })
    : Response.json({ error: 'no such run' }, { status: 404, headers: { 'Cache-Control': 'no-store' } });
}
