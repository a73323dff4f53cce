/**
 * /api/ai/chat/replies/<replyId>: the reply URLs the POST names (`Content-Location`). `GET` with
 * `Last-Event-ID` resumes after that event (what `ResumableChatTransport` from
 * `ssekit/ai-sdk-client` does when a connection drops); `DELETE` stops the reply.
 */
import { aiChat } from '../../../../../../lib/ai-chat';

export const dynamic = 'force-dynamic';

export const GET = (request: Request) => aiChat().handler(request);
export const DELETE = GET;
