import { parseArgs } from 'node:util';
import { connect, isContentTypeError, isHttpError } from '../client/index.js';
import type { ServerSentEvent } from '../protocol/types.js';
import { note, out, painter, parseHeaders, UsageError } from './shared.js';

export const LISTEN_HELP = `Usage: ssekit listen <url> [options]

Connects to an event stream and prints its events. Reconnects with backoff (sending
Last-Event-ID) and reports its state on stderr. Exits 1 with a one-line reason on a fatal
error (a 4xx status, a wrong Content-Type), 0 when the server ends it with 204.

Options:
  -X, --method <method>     HTTP method (default GET, or POST with a body)
  -H, --header <h>          request header "Name: value" (repeatable)
  -d, --data <body>         request body, sent again on every reconnect
      --json <body>         JSON body; sets Content-Type: application/json
      --last-event-id <id>  resume after this id
      --json-lines          one JSON object per event (the default when stdout is not a terminal)
      --pretty              coloured events even when piped
      --raw                 the bytes of the stream as received
      --no-reconnect        stop when the stream ends or fails
      --max-retries <n>     give up after n consecutive failed attempts
  -h, --help                this help

Examples:
  ssekit listen http://localhost:3000/hub?topic=feed
  ssekit listen http://localhost:3000/api/chat --json '{"message":"hi"}' --no-reconnect
  ssekit listen https://api.example.com/events -H "Authorization: Bearer $TOKEN" | jq .data
`;

type Format = 'pretty' | 'json-lines' | 'raw';

export async function listen(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      method: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string', short: 'd' },
      json: { type: 'string' },
      'last-event-id': { type: 'string' },
      'json-lines': { type: 'boolean' },
      pretty: { type: 'boolean' },
      raw: { type: 'boolean' },
      'no-reconnect': { type: 'boolean' },
      'max-retries': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    await out(LISTEN_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('listen takes exactly one URL');
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new UsageError(`not a URL: ${positionals[0]}`);
  }
  if (values.data !== undefined && values.json !== undefined)
    throw new UsageError('give -d or --json, not both');
  const headers = parseHeaders(values.header);
  const body = values.json ?? values.data;
  if (values.json !== undefined) {
    try {
      JSON.parse(values.json);
    } catch {
      throw new UsageError('--json is not valid JSON');
    }
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const method = (values.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  let maxAttempts: number | undefined;
  if (values['max-retries'] !== undefined) {
    maxAttempts = Number(values['max-retries']);
    if (!Number.isInteger(maxAttempts) || maxAttempts < 0)
      throw new UsageError('--max-retries must be a whole number');
    maxAttempts += 1;
  }
  const format: Format = values.raw
    ? 'raw'
    : values['json-lines'] || (!values.pretty && !process.stdout.isTTY)
      ? 'json-lines'
      : 'pretty';
  const paint = painter(process.stdout);

  // --raw: the bytes go to stdout as they arrive, tee'd off the body the client parses, so
  // reconnection and Last-Event-ID still work.
  const rawFetch = async (input: string, init: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    if (response.body === null) return response;
    const tee = new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await new Promise<void>((resolve) =>
          process.stdout.write(chunk) ? resolve() : process.stdout.once('drain', resolve),
        );
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(tee), response);
  };

  const connection = connect(url, {
    method,
    headers,
    body: body ?? null,
    ...(values['last-event-id'] !== undefined ? { lastEventId: values['last-event-id'] } : {}),
    retry: values['no-reconnect'] ? false : { maxAttempts: maxAttempts ?? Number.POSITIVE_INFINITY },
    ...(format === 'raw' ? { fetch: rawFetch } : {}),
    onOpen(response) {
      note(`connected: ${response.status} ${url.href}`);
    },
    onRetry(ms) {
      note(
        `reconnecting in ${(ms / 1000).toFixed(1)} s${connection.lastEventId ? ` (after ${connection.lastEventId})` : ''}`,
      );
    },
    onError(error) {
      if (!isHttpError(error) && !isContentTypeError(error)) note(`disconnected: ${describe(error)}`);
      return undefined;
    },
  });

  const stop = (): void => connection.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const event of connection) {
      if (format === 'json-lines') await out(`${JSON.stringify(toJson(event))}\n`);
      else if (format === 'pretty') await out(pretty(event, paint));
    }
    return 0;
  } catch (error) {
    note(`fatal: ${describe(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function toJson(event: ServerSentEvent): Record<string, string> {
  return { id: event.id, event: event.event, data: event.data };
}

function pretty(event: ServerSentEvent, paint: (code: number, text: string) => string): string {
  const head = [paint(36, event.event), event.id ? paint(90, `#${event.id}`) : ''].filter(Boolean).join(' ');
  return `${head}\n${event.data
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')}\n`;
}

/** One line, whatever failed: the status and a body excerpt, the content type, the cause. */
export function describe(error: unknown): string {
  if (isHttpError(error)) {
    const excerpt = error.body.replace(/\s+/g, ' ').trim().slice(0, 120);
    return `HTTP ${error.status}${excerpt ? `: ${excerpt}` : ''}`;
  }
  if (isContentTypeError(error)) {
    return `expected Content-Type text/event-stream, got ${error.contentType ?? 'none'}`;
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}
