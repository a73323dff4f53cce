import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** `Last-Event-ID` as the client meant it: the header's bytes read as UTF-8. */
  lastEventId: string | undefined;
}

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  request: RecordedRequest,
  n: number,
) => void;

export interface TestServer {
  url: string;
  requests: RecordedRequest[];
  /** Resolves when the server has seen `n` requests (bounded by the test timeout). */
  waitForRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 and an ephemeral port that records every request. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const waiters: { n: number; resolve(): void }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = req.headers['last-event-id'];
      const request: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        // Node reads header bytes as latin1; the client sent UTF-8.
        lastEventId: raw === undefined ? undefined : Buffer.from(String(raw), 'latin1').toString('utf8'),
      };
      requests.push(request);
      for (const waiter of waiters.filter((w) => requests.length >= w.n)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      handler(req, res, request, requests.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitForRequests(n) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Starts an event stream response. */
export function sse(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  res.flushHeaders();
}

export { seeded } from '../helpers/seeded.mjs';
export { deferred } from '../helpers/server.js';
