// Pages Router: an API route gets node's req/res; ssekit/node writes the same Response to it,
// chunk by chunk, and cancels it (stopping the bot) when the client disconnects.
import type { NextApiRequest, NextApiResponse } from 'next';
import { writeResponse } from 'ssekit/node';
import { botResponse, messageOf } from '../../lib/bot';

export default async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    res.status(405).end();
    return;
  }
  const message = messageOf(req.body);
  if (message === undefined) {
    res.status(400).json({ error: 'expected { message: string }' });
    return;
  }
  // Awaited, so Next sees the handler finish when the stream does.
  await writeResponse(botResponse(message), res);
}
