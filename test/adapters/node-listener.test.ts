/**
 * createRequestListener's side of HTTP hygiene: methods a Web Request cannot carry, and answers
 * sent before the request body has arrived.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRequestListener, type RequestListenerOptions } from '../../src/adapters/node/index.js';
import { type RawClient, rawClient } from '../helpers/raw.js';
import { listen } from '../helpers/server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(
  handler: (request: Request) => Response | Promise<Response>,
  options: RequestListenerOptions,
) {
  const server = await listen(createRequestListener(handler, options));
  cleanups.push(server.close);
  return Number(new URL(server.url).port);
}

async function raw(port: number): Promise<RawClient> {
  const client = await rawClient(port);
  cleanups.push(async () => client.destroy());
  return client;
}

describe('createRequestListener: methods a Request cannot carry', () => {
  it('TRACE gets 405 with Allow, without reaching the handler or onError', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const port = await serve(
      () => {
        calls++;
        return new Response('ok');
      },
      { onError: (error) => errors.push(error) },
    );
    const client = await raw(port);
    client.write('TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/^HTTP\/1\.1 405 /);
    expect(client.text()).toMatch(/\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
    expect(calls).toBe(0);
    expect(errors).toEqual([]);

    // The same connection still serves a request the handler can take.
    client.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await client.until('ok');
    expect(calls).toBe(1);
  });

  it('the Allow header can name the methods the handler serves', async () => {
    const port = await serve(() => new Response('ok'), { allow: 'GET, POST' });
    const client = await raw(port);
    client.write('TRACE /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/\r\nallow: GET, POST\r\n/i);
  });
});

describe('createRequestListener: an answer before the body has arrived', () => {
  it('a 413 decided on Content-Length is sent, then the connection closes (the body never comes)', async () => {
    const port = await serve(
      (request) =>
        Number(request.headers.get('content-length')) > 65536
          ? new Response('too large\n', { status: 413 })
          : new Response('ok'),
      {},
    );
    const client = await raw(port);
    client.write(
      'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{',
    );
    await client.until('too large');
    expect(client.text()).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.text()).toMatch(/\r\nconnection: close\r\n/i);
    // Without the close, node would keep reading the promised megabyte for minutes.
    expect(await client.closedWithin(5000)).toBe('closed');
  });

  it('a handler that read the whole body answers on a connection that stays open', async () => {
    const port = await serve(async (request) => new Response(`got ${(await request.text()).length}`), {});
    const client = await raw(port);
    client.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc');
    await client.until('got 3');
    expect(client.text()).not.toMatch(/connection: close/i);
    client.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nab');
    await client.until('got 2');
  });

  it('an answer given at once to a request with Content-Length: 0 (its whole body) keeps the connection', async () => {
    const port = await serve(() => new Response('ok'), {});
    const client = await raw(port);
    // The 405 is answered synchronously, while node has not yet marked the request complete.
    client.write('TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n');
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/^HTTP\/1\.1 405 /);
    expect(client.text()).not.toMatch(/connection: close/i);
    client.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await client.until('ok');
  });

  it('a handler that throws before the body arrived: 500, then the connection closes', async () => {
    const port = await serve(
      () => {
        throw new Error('boom');
      },
      { onError: () => {} },
    );
    const client = await raw(port);
    client.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nab');
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/^HTTP\/1\.1 500 /);
    expect(await client.closedWithin(5000)).toBe('closed');
  });
});

describe('createRequestListener: the URL a handler sees', () => {
  it('keeps the path and query on http://localhost when the Host header is missing, empty or not a host', async () => {
    const seen: string[] = [];
    const port = await serve((request) => {
      seen.push(request.url);
      return new Response('ok');
    }, {});
    for (const head of [
      'GET /a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n',
      'GET /b?x=2 HTTP/1.1\r\nHost: not a host\r\n\r\n',
      'GET /c HTTP/1.1\r\nHost: \r\n\r\n',
      'GET /d HTTP/1.0\r\n\r\n',
    ]) {
      const client = await raw(port);
      client.write(head);
      await client.until('ok');
    }
    expect(seen).toEqual([
      'http://127.0.0.1:8080/a?x=1',
      'http://localhost/b?x=2',
      'http://localhost/c',
      'http://localhost/d',
    ]);
  });
});
