// @ts-check
// Hono on @hono/node-server: Hono handlers return Web Responses, so ssekit/server plugs in
// directly, no adapter needed (the same app runs on Deno, Bun or a worker).
// Run: npm run build && node examples/hono/server.mjs  (PORT=3000 by default)

import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { chat, feed } from '../shared/handlers.mjs';

/**
 * @param {{ port?: number, interval?: number, delay?: number }} [options]
 */
export async function start({ port = Number(process.env.PORT ?? 3000), interval, delay } = {}) {
  let active = 0;
  const app = new Hono();
  app.get('/events', (c) => feed(c.req.raw, { interval, onOpen: () => active++, onClose: () => active-- }));
  app.post('/chat', (c) => chat(c.req.raw, { delay }));

  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    active: () => active,
    close: () =>
      new Promise((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await start();
  console.log(`hono example on ${url}: GET /events, POST /chat {"message":"hi"}`);
}
