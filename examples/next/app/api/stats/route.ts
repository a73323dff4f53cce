import { botStats } from '../../../lib/bot';

export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json(botStats(), { headers: { 'cache-control': 'no-store' } });
}
