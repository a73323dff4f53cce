// @ts-check
// Deno: Deno.serve takes a Web handler (Request -> Response), so ssekit/server plugs in directly.
// Run: npm run build && deno run --allow-net --allow-env --allow-read examples/deno/server.mjs
// (PORT=3000 by default; PORT=0 picks a free one)
import { chat, feed } from '../shared/handlers.mjs';

/**
 * @typedef {{ hostname: string, port: number }} Address
 * @type {{ Deno: {
 *   env: { get(name: string): string | undefined },
 *   serve(options: object, handler: (request: Request) => Response | Promise<Response>): unknown,
 * } }}
 */
const { Deno } = /** @type {any} */ (globalThis);
/** @type {(name: string, fallback: number) => number} */
const env = (name, fallback) => Number(Deno.env.get(name) ?? fallback);

let active = 0;
const feedOptions = { interval: env('INTERVAL', 1000), onOpen: () => active++, onClose: () => active-- };

Deno.serve(
  {
    hostname: '127.0.0.1',
    port: env('PORT', 3000),
    /** @param {Address} address */
    onListen: ({ hostname, port }) =>
      console.log(`deno example on http://${hostname}:${port}: GET /events, POST /chat {"message":"hi"}`),
  },
  (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === 'GET' && pathname === '/events') return feed(request, feedOptions);
    if (request.method === 'POST' && pathname === '/chat') return chat(request, { delay: env('DELAY', 20) });
    // For the tests: feed streams open right now (drops when a client leaves).
    if (pathname === '/stats') return Response.json({ active });
    return new Response('not found', { status: 404 });
  },
);
