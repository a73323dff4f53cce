// @ts-check
// Fastify 5: hijack the reply and let ssekit/node write the event stream on the raw response.
// Run: npm run build && node examples/fastify/server.mjs  (PORT=3000 by default)

import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { toRequest, writeResponse } from 'ssekit/node';
import { chatReply, feed } from '../shared/handlers.mjs';

/**
 * @param {{ port?: number, interval?: number, delay?: number }} [options]
 */
export async function start({ port = Number(process.env.PORT ?? 3000), interval, delay } = {}) {
  let active = 0;
  const app = Fastify();

  app.get('/events', async (request, reply) => {
    // From here on the response is ours, not Fastify's serializer's.
    reply.hijack();
    const response = feed(toRequest(request.raw, reply.raw), {
      interval,
      onOpen: () => active++,
      onClose: () => active--,
    });
    await writeResponse(response, reply.raw);
  });

  app.post('/chat', async (request, reply) => {
    const body = /** @type {{ message?: unknown } | undefined} */ (request.body);
    const message = body?.message;
    if (typeof message !== 'string' || message.length > 2000) {
      return reply.code(400).send({ error: 'expected { message: string }' });
    }
    reply.hijack();
    await writeResponse(chatReply(message, { delay }), reply.raw);
  });

  await app.listen({ port, host: '127.0.0.1' });
  const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    active: () => active,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { url } = await start();
  console.log(`fastify example on ${url}: GET /events, POST /chat {"message":"hi"}`);
}
