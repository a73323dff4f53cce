import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { BodyError, isBodyError } from '../../src/client/errors.js';
import { sse, startServer, type TestServer } from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  // Each path is its own conversation: the first request streams an event and ends (retry: 0,
  // so the client comes straight back), the second gets 204 and the client stops.
  const seen = new Map<string, number>();
  server = await startServer((req, res) => {
    const n = (seen.get(req.url!) ?? 0) + 1;
    seen.set(req.url!, n);
    if (n === 1) {
      sse(res);
      res.end('retry: 0\nid: first\ndata: reply\n\n');
    } else {
      res.writeHead(204);
      res.end();
    }
  });
});
afterAll(() => server.close());

function requestsTo(path: string) {
  return server.requests.filter((r) => r.url === path);
}

describe('connect: request bodies are sent again on reconnect', () => {
  it('POST with a JSON body and headers: both requests carry them, the second with Last-Event-ID', async () => {
    const body = JSON.stringify({ prompt: 'Hello', n: 1 });
    const c = connect(`${server.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t0ken', 'x-trace': 'abc' },
      body,
    });
    const data: string[] = [];
    for await (const event of c) data.push(event.data);
    expect(data).toEqual(['reply']);
    const requests = requestsTo('/chat');
    expect(requests).toHaveLength(2);
    for (const r of requests) {
      expect(r.method).toBe('POST');
      expect(r.body).toBe(body);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers.authorization).toBe('Bearer t0ken');
      expect(r.headers['x-trace']).toBe('abc');
      expect(r.headers.accept).toBe('text/event-stream');
    }
    expect(requests.map((r) => r.lastEventId)).toEqual([undefined, 'first']);
  });

  const form = new FormData();
  form.append('field', 'value');
  const cases: [string, () => unknown, (body: string, type: string | undefined) => void][] = [
    ['string', () => 'plain text', (b) => expect(b).toBe('plain text')],
    [
      'Blob',
      () => new Blob(['blob ✓'], { type: 'text/x-blob' }),
      (b, t) => expect([b, t]).toEqual(['blob ✓', 'text/x-blob']),
    ],
    ['ArrayBuffer', () => new TextEncoder().encode('buffer').buffer, (b) => expect(b).toBe('buffer')],
    ['Uint8Array', () => new TextEncoder().encode('view'), (b) => expect(b).toBe('view')],
    [
      'URLSearchParams',
      () => new URLSearchParams({ q: 'a b', n: '1' }),
      (b, t) => expect([b, t]).toEqual(['q=a+b&n=1', 'application/x-www-form-urlencoded;charset=UTF-8']),
    ],
    [
      'FormData',
      () => form,
      (b, t) => {
        expect(t).toMatch(/^multipart\/form-data; boundary=/);
        expect(b).toContain('name="field"');
        expect(b).toContain('value');
      },
    ],
  ];

  it.each(cases)('replays a %s body', async (name, make, check) => {
    const path = `/body/${name}`;
    const c = connect(`${server.url}${path}`, { method: 'PUT', body: make() as string });
    for await (const _ of c);
    const requests = requestsTo(path);
    expect(requests).toHaveLength(2);
    for (const r of requests) check(r.body, r.headers['content-type']);
    // FormData gets a fresh multipart boundary per request; everything else is byte-identical.
    if (name !== 'FormData') expect(requests[0]!.body).toBe(requests[1]!.body);
  });

  it('calls a body function before each attempt', async () => {
    let calls = 0;
    const c = connect(`${server.url}/fn`, {
      method: 'POST',
      body: async () => JSON.stringify({ attempt: ++calls }),
    });
    for await (const _ of c);
    expect(requestsTo('/fn').map((r) => r.body)).toEqual(['{"attempt":1}', '{"attempt":2}']);
  });
});

describe('connect: headers as a function, called on each attempt', () => {
  it('the reconnect carries the refreshed token, with Accept and Last-Event-ID as always', async () => {
    let calls = 0;
    const c = connect(`${server.url}/token`, {
      // A token refreshed between attempts: async, as a real refresh is.
      headers: async () => ({ authorization: `Bearer token-${++calls}`, 'x-trace': 'abc' }),
    });
    for await (const _ of c);
    const requests = requestsTo('/token');
    expect(calls).toBe(2);
    expect(requests.map((r) => [r.headers.authorization, r.headers['x-trace'], r.headers.accept])).toEqual([
      ['Bearer token-1', 'abc', 'text/event-stream'],
      ['Bearer token-2', 'abc', 'text/event-stream'],
    ]);
    expect(requests.map((r) => r.lastEventId)).toEqual([undefined, 'first']);
  });

  it('a plain function, a Headers and an Accept of its own', async () => {
    const c = connect(`${server.url}/headers-object`, {
      headers: () => new Headers({ accept: 'text/event-stream, */*;q=0.1', 'x-n': '1' }),
    });
    for await (const _ of c);
    expect(requestsTo('/headers-object').map((r) => [r.headers.accept, r.headers['x-n']])).toEqual([
      ['text/event-stream, */*;q=0.1', '1'],
      ['text/event-stream, */*;q=0.1', '1'],
    ]);
  });

  it('a bad header from the function ends the connection on its attempt (a TypeError, fatal)', async () => {
    const before = server.requests.length;
    const errors: unknown[] = [];
    const c = connect(server.url, {
      headers: () => ({ 'bad header': 'x' }),
      onError: (e) => void errors.push(e),
    });
    await expect(c.closed).rejects.toBeInstanceOf(TypeError);
    expect(errors).toHaveLength(1);
    expect(server.requests.length).toBe(before);
  });
});

describe('connect: bodies that cannot be replayed are refused with a BodyError', () => {
  it('a ReadableStream body: connect() throws before any request', () => {
    const before = server.requests.length;
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('once'));
        c.close();
      },
    });
    expect(() => connect(server.url, { method: 'POST', body: body as unknown as string })).toThrow(BodyError);
    expect(server.requests.length).toBe(before);
  });

  it('an async iterable body (a Node stream, say)', () => {
    async function* chunks() {
      yield 'a';
    }
    expect(() => connect(server.url, { method: 'POST', body: chunks() as unknown as string })).toThrow(
      BodyError,
    );
  });

  it('a body function that returns a stream: a fatal BodyError, no request', async () => {
    const before = server.requests.length;
    const errors: unknown[] = [];
    const c = connect(server.url, {
      method: 'POST',
      body: () => new ReadableStream() as unknown as string,
      onError: (e) => void errors.push(e),
    });
    await expect(c.closed).rejects.toSatisfy(isBodyError);
    expect(errors).toHaveLength(1);
    expect(server.requests.length).toBe(before);
  });

  it('a body on GET or HEAD', () => {
    expect(() => connect(server.url, { body: 'x' })).toThrow(BodyError);
    expect(() => connect(server.url, { method: 'head', body: 'x' })).toThrow(BodyError);
  });

  it('invalid URLs and headers are thrown at once, not retried', () => {
    expect(() => connect('not a url', {})).toThrow(TypeError);
    expect(() => connect(server.url, { headers: { 'bad header': 'x' } })).toThrow(TypeError);
  });
});
