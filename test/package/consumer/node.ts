/**
 * The Node-only subpaths of the consumer (see web.ts): checked under the configurations that
 * include @types/node.
 */
import { createServer } from 'node:http';
import { createHub } from 'ssekit/hub';
import { createRequestListener, sendEventStream, toRequest, writeResponse } from 'ssekit/node';
import { createRedisBroker } from 'ssekit/redis';

const broker = createRedisBroker({ url: 'redis://127.0.0.1:6379', maxLen: 10_000 });
const hub = createHub({ broker });
export const server = createServer(createRequestListener(hub.handler, { requestSignal: false }));

export const plain = createServer((req, res) => {
  if (req.url === '/events') {
    const stream = sendEventStream(res, { heartbeat: 15_000 });
    void stream.send({ data: 'hello' });
    return;
  }
  const request: Request = toRequest(req, res);
  void hub.handler(request).then((response) => writeResponse(response, res));
});
