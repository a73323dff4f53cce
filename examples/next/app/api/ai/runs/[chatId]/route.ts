/**
 * GET /api/ai/runs/<chatId>: the mock model's calls for that chat on this instance (how many,
 * and whether each completed or was aborted), for the tests and for curl.
 */
import { modelRuns } from '../../../../../lib/mock-model';

export const dynamic = 'force-dynamic';

export async function GET(_request: Request, context: { params: Promise<{ chatId: string }> }) {
  const { chatId } = await context.params;
  return Response.json({ chatId, runs: modelRuns(chatId) });
}
