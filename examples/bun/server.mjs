// @ts-check
// Bun: Bun.serve takes a Web handler (Request -> Response), so ssekit/server plugs in directly.
// Run: npm run build && bun examples/bun/server.mjs  (PORT=3000 by default; PORT=0 picks one)
//
// Bun closes a connection that has not been written to for `idleTimeout` seconds (10 by
// default), streaming responses included. Under Bun, ssekit's heartbeat comes every 5 s by
// default instead of 10 s, so a quiet feed stays open without touching `idleTimeout`.
import { chat, feed } from '../shared/handlers.mjs';

/** @type {{ Bun: { serve(options: object): { url: URL } } }} */
const { Bun } = /** @type {any} */ (globalThis);

let active = 0;
const feedOptions = {
  interval: Number(process.env.INTERVAL ?? 1000),
  onOpen: () => active++,
  onClose: () => active--,
};

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 3000),
  /** @param {Request} request */
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (request.method === 'GET' && pathname === '/events') return feed(request, feedOptions);
    if (request.method === 'POST' && pathname === '/chat') {
      return chat(request, { delay: Number(process.env.DELAY ?? 20) });
    }
    // For the tests: feed streams open right now (drops when a client leaves).
    if (pathname === '/stats') return Response.json({ active });
    return new Response('not found', { status: 404 });
  },
});

console.log(`bun example on ${server.url.origin}: GET /events, POST /chat {"message":"hi"}`);
