/**
 * The reply URLs: GET /api/replies/<id> replays a reply after `Last-Event-ID` and follows it to
 * its `end` event (204 once the client has that event, 404 for an unknown or expired reply);
 * DELETE stops it (204).
 */
import { replies } from '../../../../lib/replies';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => replies.handler(request);
export const DELETE = GET;
