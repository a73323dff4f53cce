/**
 * Pages Router API route: POST /api/chat-pages, the same chat through node:http objects.
 * `ssekit/node` turns the IncomingMessage into a Web Request for the shared handler, then writes
 * the Response to the ServerResponse chunk by chunk (respecting backpressure, flushing headers at
 * once, calling `flush()` when a compression layer provides one), and cancels the stream when
 * the client disconnects.
 */
import type { NextApiRequest, NextApiResponse } from 'next';
import { toRequest, writeResponse } from 'ssekit/node';
import { chatResponse } from '../../lib/chat';

export const config = {
  api: {
    // ssekit reads the raw body stream itself (bounded by the shared handler).
    bodyParser: false,
  },
};

export default async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
  const response = await chatResponse(toRequest(req, res), 'pages');
  // Resolves when the reply has ended or the client has gone; never rejects.
  await writeResponse(response, res);
}
