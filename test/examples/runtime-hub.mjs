// @ts-check
// A hub (ssekit/hub, in-memory broker) served by the runtime's own server, Bun.serve or
// Deno.serve, for test/examples/runtimes.test.ts: GET subscribes, POST publishes, `GET /metrics`
// answers the hub's metrics as JSON. Prints its URL once it listens.
import { createHub } from 'ssekit/hub';

/** @type {{ Bun?: any, Deno?: any }} */
const g = /** @type {any} */ (globalThis);
const hub = createHub();

/** @param {Request} request */
const fetch = (request) =>
  new URL(request.url).pathname === '/metrics' ? Response.json(hub.metrics()) : hub.handler(request);

if (g.Bun) {
  const server = g.Bun.serve({ hostname: '127.0.0.1', port: 0, fetch });
  console.log(`hub on ${server.url.origin}`);
} else {
  g.Deno.serve(
    {
      hostname: '127.0.0.1',
      port: 0,
      /** @param {{ hostname: string, port: number }} address */
      onListen: ({ hostname, port }) => console.log(`hub on http://${hostname}:${port}`),
    },
    fetch,
  );
}
