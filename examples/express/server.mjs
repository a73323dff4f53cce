// @ts-check
// Express 5 with the `compression` middleware ON, and the events still stream: SSE_HEADERS
// carry `Cache-Control: no-transform` (which compression honours), and ssekit/node calls
// res.flush() after every chunk for setups that compress anyway.
// Run: npm run build && node examples/express/server.mjs  (PORT=3000 by default)

import { pathToFileURL } from 'node:url';
import compression from 'compression';
import express from 'express';
import { toRequest, writeResponse } from 'ssekit/node';
import { chatReply, feed } from '../shared/handlers.mjs';

/**
 * @param {{ port?: number, interval?: number, delay?: number }} [options]
 */
export async function start({ port = Number(process.env.PORT ?? 3000), interval, delay } = {}) {
  let active = 0;
  const app = express();
  app.use(compression());

  // A page that compression does compress, to show it is really on.
  app.get('/', (_req, res) => {
    res.type('text/plain').send(`ssekit + express + compression\n${'GET /events, POST /chat\n'.repeat(200)}`);
  });

  app.get('/events', async (req, res) => {
    const response = feed(toRequest(req, res), { interval, onOpen: () => active++, onClose: () => active-- });
    await writeResponse(response, res);
  });

  // express.json() consumed the body: hand the parsed message to the reply directly.
  app.post('/chat', express.json(), async (req, res) => {
    const message = req.body?.message;
    if (typeof message !== 'string' || message.length > 2000) {
      res.status(400).json({ error: 'expected { message: string }' });
      return;
    }
    // No signal needed: writeResponse cancels the body when the client leaves, which stops the bot.
    await writeResponse(chatReply(message, { delay }), res);
  });

  const server = await new Promise((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    active: () => active,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await start();
  console.log(`express example on ${url}: GET /events, POST /chat {"message":"hi"}`);
}
