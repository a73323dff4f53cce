/**
 * A consumer of the packed tarball, type checked by test/package/types.test.ts under every
 * configuration there (Node-only, DOM, webworker, ...): the subpaths that run on Web standards.
 * It is never run. Each `@ts-expect-error` holds a type precise: under `any` the line would
 * compile, the directive would be unused, and tsc would fail.
 */
import { createParser, EventStreamParser, encodeEvent, type ServerSentEvent } from 'ssekit';
import { isProviderStreamError, readAnthropic, readOpenAIChat, readOpenAIResponses } from 'ssekit/ai';
import { connect, EventSource, isHttpError } from 'ssekit/client';
import { createHub, createMemoryBroker, jwtAuthorizer } from 'ssekit/hub';
import { createEventStream, sseHeaders, sseResponse, streamEvents } from 'ssekit/server';
import { connectShared, isShareLagError, type SharedConnection } from 'ssekit/share';

// The protocol layer.
const parser = createParser({
  onEvent: (event) => {
    const data: string = event.data;
    // @ts-expect-error `data` is a string
    const wrong: number = event.data;
    return [data, wrong];
  },
  onError: (error) => error.type,
});
parser.feed('data: hello\n\n');
export const wire: string = encodeEvent({ event: 'tick', id: '1', data: 'now' });

export async function firstEvent(response: Response): Promise<ServerSentEvent | undefined> {
  if (!response.body) return undefined;
  const reader = response.body.pipeThrough(new EventStreamParser()).getReader();
  const { value } = await reader.read();
  return value;
}

// The client: connect() with a replayable body, and EventSource with a named event.
export async function chat(): Promise<string> {
  const connection = connect('https://example.com/chat', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'hello' }),
    reconnect: { initialDelay: 500 },
    signal: AbortSignal.timeout(10_000),
    onError: (error) => (isHttpError(error) ? false : undefined),
  });
  let text = '';
  for await (const event of connection) text += event.data;
  connection.close();
  return text;
}

// One stream shared by the tabs of an origin: the shape of a connection, and who leads.
export async function shared(): Promise<string[]> {
  const feed: SharedConnection = connectShared('https://example.com/feed', {
    headers: { authorization: 'Bearer token' },
    reconnect: { maxDelay: 10_000 },
  });
  const ids: string[] = [feed.lastEventId, String(feed.leading)];
  try {
    for await (const event of feed) ids.push(event.id);
  } catch (error) {
    if (!isShareLagError(error)) throw error;
  }
  // @ts-expect-error a shared stream's body is a string: the tabs must agree on it
  connectShared('https://example.com/feed', { method: 'POST', body: new Blob() });
  return ids;
}

const bytes = new TextEncoder().encode('{"topic":"a"}');
const source = new EventSource('https://example.com/feed', {
  withCredentials: true,
  headers: [['authorization', 'Bearer token']],
  method: 'POST',
  body: bytes,
});
source.addEventListener('price', (event) => {
  const data: string = event.data;
  const id: string = event.lastEventId;
  // @ts-expect-error `data` of a named event is a string, not `any`
  const wrong: number = event.data;
  return [data, id, wrong];
});
source.addEventListener(
  'price',
  {
    handleEvent(event) {
      // @ts-expect-error `data` is a string
      const wrong: number = event.data;
      return wrong;
    },
  },
  { once: true, signal: AbortSignal.timeout(1000) },
);
source.onmessage = (event) => {
  // @ts-expect-error `data` is a string
  const wrong: number = event.data;
  return wrong;
};
// A listener written against the platform's own `MessageEvent` is accepted as well.
source.addEventListener('news', (event: MessageEvent) => event.origin);
source.onerror = () => {
  if (source.readyState === EventSource.CLOSED) source.close();
};
source.addEventListener('error', (event) => {
  // @ts-expect-error `open` and `error` are plain events, without `data`
  return event.data;
});

// The server writer.
export function route(request: Request): Response {
  const stream = createEventStream({ signal: request.signal, headers: { 'x-accel-buffering': 'no' } });
  void stream.send({ event: 'tick', data: 'now' });
  return stream.response;
}
export const listed: Response = streamEvents(['a', { event: 'b', data: 'c' }], { heartbeat: false });
export const empty: Response = sseResponse(null, { status: 204, headers: new Headers({ 'x-a': 'b' }) });
export const headers: Headers = sseHeaders([['access-control-allow-origin', '*']]);

// The hub, with a JWT authorizer keyed by the runtime's own CryptoKey.
export async function hubWithJwt(): Promise<Response> {
  const key = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'verify',
  ]);
  const hub = createHub({
    broker: createMemoryBroker(),
    authorize: jwtAuthorizer({ key, algorithms: ['HS256'] }),
    headers: { 'access-control-allow-origin': 'https://app.example.com' },
  });
  // @ts-expect-error a key is bytes, a CryptoKey or a key getter, not a string
  jwtAuthorizer({ key: 'secret', algorithms: ['HS256'] });
  const id: string = await hub.publish('news', { event: 'headline', data: 'hello' });
  // @ts-expect-error the id is a string
  const wrong: number = await hub.publish('news', 'hello');
  void [id, wrong];
  return hub.handler(new Request('https://example.com/?topic=news'));
}

// The provider readers: typed events, text pieces, one typed error.
export async function answer(response: Response): Promise<string> {
  let text = '';
  try {
    for await (const event of readAnthropic(response)) {
      if (event.type !== 'content_block_delta') continue;
      if (event.delta.type === 'text_delta') text += event.delta.text;
      // @ts-expect-error a text delta has no `partial_json`
      if (event.delta.type === 'text_delta') text += event.delta.partial_json;
    }
  } catch (error) {
    if (isProviderStreamError(error) && error.type === 'provider') return error.code ?? '';
    // @ts-expect-error `type` is a union of literals
    if (isProviderStreamError(error) && error.type === 'overloaded_error') return '';
    throw error;
  }
  return text;
}
export async function chatText(upstream: Response): Promise<string[]> {
  const pieces: string[] = [];
  for await (const piece of readOpenAIChat(upstream.body!).text()) pieces.push(piece);
  for await (const event of readOpenAIResponses(connect('https://example.com/responses'))) {
    if (event.type === 'response.output_text.delta') pieces.push(event.delta);
    if (event.type === 'response.completed') pieces.push(event.response.status);
  }
  return pieces;
}
