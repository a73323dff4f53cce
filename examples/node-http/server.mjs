// @ts-check
// node:http with ssekit/node: one Web handler (Request -> Response) mounted as a request listener.
// Run: npm run build && node examples/node-http/server.mjs  (PORT=3000 by default)
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createRequestListener } from 'ssekit/node';
import { chat, feed } from '../shared/handlers.mjs';

/**
 * @param {{ port?: number, interval?: number, delay?: number }} [options]
 */
export async function start({ port = Number(process.env.PORT ?? 3000), interval, delay } = {}) {
  let active = 0;
  const feedOptions = { interval, onOpen: () => active++, onClose: () => active-- };
  const server = createServer(
    createRequestListener((request) => {
      const { pathname } = new URL(request.url);
      if (request.method === 'GET' && pathname === '/events') return feed(request, feedOptions);
      if (request.method === 'POST' && pathname === '/chat') return chat(request, { delay });
      return new Response('not found', { status: 404 });
    }),
  );
  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    /** Feed streams currently open: drops when a client leaves. */
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
  console.log(`node:http example on ${url}: GET /events, POST /chat {"message":"hi"}`);
}
