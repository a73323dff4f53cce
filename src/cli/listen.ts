import {
  connect,
  isContentTypeError,
  isHttpError,
  isIdleTimeoutError,
  isNetworkError,
  isReconnectable,
  isStreamEndError,
} from '../client/index.js';
import type { ServerSentEvent } from '../protocol/types.js';
import {
  httpUrl,
  networkReason,
  note,
  out,
  painter,
  parseFlags,
  parseHeaders,
  UsageError,
} from './shared.js';

export const LISTEN_HELP = `Usage: ssekit listen <url> [options]

Connects to an event stream and prints its events. Reconnects with backoff (sending
Last-Event-ID) and reports its state on stderr. Exits 1 with a one-line reason on a fatal
error (a 4xx status, a wrong Content-Type), 0 when the server ends it with 204. A request
with a body is sent again, body and all, on each reconnect, unless its answer names a
reply (Content-Location, as ssekit/replies does): then a reconnect resumes the reply with
a GET of that URL and the request is never sent again, and the reply's end event ends the
command. Otherwise, use --no-reconnect for a one-off request such as a chat message.
A reply's URL is a GET stream like any other: listen to it to resume a reply.

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
      --max-retries <n>     give up after n retries in a row (n + 1 failed attempts)
  -h, --help                this help

Examples:
  ssekit listen http://localhost:3000/hub?topic=feed
  ssekit listen http://localhost:3000/api/chat --json '{"message":"hi"}' --no-reconnect
  ssekit listen http://localhost:3000/api/replies/2f9c... --last-event-id 1733-0
  ssekit listen https://api.example.com/events -H "Authorization: Bearer $TOKEN" | jq .data
`;

type Format = 'pretty' | 'json-lines' | 'raw';

export async function listen(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
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
  });
  if (values.help) {
    await out(LISTEN_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('listen takes exactly one URL');
  // fetch would refuse ftp: and the like on every attempt, retried forever.
  const url = httpUrl('listen', positionals[0]!);
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
  let maxRetries: number | undefined;
  if (values['max-retries'] !== undefined) {
    maxRetries = Number(values['max-retries']);
    if (!/^\d+$/.test(values['max-retries']) || !Number.isSafeInteger(maxRetries))
      throw new UsageError('--max-retries must be a whole number');
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

  const reconnect = !values['no-reconnect'];
  if (body !== undefined && reconnect) {
    // Each end of stream reconnects, and a reconnect is the same request: a chat message
    // would be posted again and answered again. Said once, up front: whether the answer names
    // a reply (then reconnects are GETs of it) is known only once it comes.
    note(
      `warning: the ${method} is sent again, body and all, on each reconnect (after every end of stream or error) unless its answer names a reply (Content-Location); add --no-reconnect to send it once`,
    );
  }

  // Per attempt: whether it got a stream, and the line that says how it ended, printed with
  // what comes next (the delay of the retry), or as the fatal line.
  let opened = false;
  let ended = '';
  // Whether the answer named a reply (said once; then every attempt is a GET of it).
  let resuming = false;
  const connection = connect(url, {
    method,
    headers,
    body: body ?? null,
    ...(values['last-event-id'] !== undefined ? { lastEventId: values['last-event-id'] } : {}),
    // `reconnect.maxAttempts` counts the retries after failures (n of them: n + 1 requests).
    reconnect: reconnect ? { maxAttempts: maxRetries ?? Number.POSITIVE_INFINITY } : false,
    ...(format === 'raw' ? { fetch: rawFetch } : {}),
    onOpen(response) {
      opened = true;
      const reply = connection.replyUrl;
      if (reply === undefined) note(`connected: ${response.status} ${url.href}`);
      else if (!resuming) {
        resuming = true;
        note(
          `connected: ${response.status} ${url.href}; the reply is at ${reply}, where a reconnect resumes it`,
        );
      } else note(`connected: ${response.status} ${reply}`);
    },
    onReconnect(delay) {
      const after = connection.lastEventId ? ` (after ${connection.lastEventId})` : '';
      note(`${ended}; ${opened ? 'reconnecting' : 'retrying'} in ${(delay / 1000).toFixed(1)} s${after}`);
      opened = false;
    },
    onError(error) {
      ended = outcome(error, connection.replyUrl ?? url.href, opened);
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
    const gaveUp =
      reconnect && maxRetries !== undefined && isReconnectable(error)
        ? ` (gave up after ${maxRetries} ${maxRetries === 1 ? 'retry' : 'retries'})`
        : '';
    note(`fatal: ${outcome(error, connection.replyUrl ?? url.href, opened)}${gaveUp}`);
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

/**
 * How an attempt ended, in one line: `cannot reach <url>: connection refused` when no stream
 * came, `disconnected: …` when one had, the status and a body excerpt, the content type.
 */
function outcome(error: unknown, href: string, opened: boolean): string {
  if (opened) return `disconnected: ${describe(error)}`;
  if (isNetworkError(error)) return `cannot reach ${href}: ${networkReason(error)}`;
  return `${href}: ${describe(error)}`;
}

/** One line, whatever failed: the status and a body excerpt, the content type, the cause. */
export function describe(error: unknown): string {
  if (isHttpError(error)) {
    const excerpt = error.body.replace(/\s+/g, ' ').trim().slice(0, 120);
    // `HTTP 401 Unauthorized: no token` (HTTP/2 and HTTP/3 send no status text).
    const status = `HTTP ${error.status}${error.statusText ? ` ${error.statusText}` : ''}`;
    return `${status}${excerpt ? `: ${excerpt}` : ''}`;
  }
  if (isContentTypeError(error)) {
    return `expected Content-Type text/event-stream, got ${error.contentType ?? 'none'}`;
  }
  if (isStreamEndError(error)) return 'the server ended the stream';
  if (isNetworkError(error)) return networkReason(error);
  if (isIdleTimeoutError(error)) return error.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}
