import { httpUrl, networkReason, note, out, parseFlags, parseHeaders, UsageError } from './shared.js';

export const PUBLISH_HELP = `Usage: ssekit publish <hub-url> <topic> <data> [options]

Publishes one event to a hub (a POST of {"topic","event","data"}) and prints its id.

Options:
  -e, --event <type>   event type (default: none, which clients see as "message")
  -H, --header <h>     request header "Name: value" (repeatable), e.g. an Authorization token
  -h, --help           this help

Examples:
  ssekit publish http://localhost:3000/hub feed "deploy finished"
  ssekit publish http://localhost:8080/ orders '{"id":42}' -e created -H "Authorization: Bearer $TOKEN"
`;

export async function publish(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    event: { type: 'string', short: 'e' },
    header: { type: 'string', short: 'H', multiple: true },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    await out(PUBLISH_HELP);
    return 0;
  }
  if (positionals.length !== 3) throw new UsageError('publish takes <hub-url> <topic> <data>');
  const [hubUrl, topic, data] = positionals as [string, string, string];
  httpUrl('publish', hubUrl);
  const headers = parseHeaders(values.header);
  headers.set('content-type', 'application/json');
  let response: Response;
  try {
    response = await fetch(hubUrl, {
      method: 'POST',
      headers,
      body: JSON.stringify({ topic, data, ...(values.event !== undefined ? { event: values.event } : {}) }),
    });
  } catch (error) {
    note(`fatal: cannot reach ${hubUrl}: ${networkReason(error)}`);
    return 1;
  }
  const text = await response.text();
  if (!response.ok) {
    note(`fatal: HTTP ${response.status}${text ? `: ${text.replace(/\s+/g, ' ').slice(0, 120)}` : ''}`);
    return 1;
  }
  let id: unknown;
  try {
    id = (JSON.parse(text) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  if (typeof id !== 'string') {
    note('fatal: the server answered without an event id: is this a hub URL?');
    return 1;
  }
  await out(`${id}\n`);
  return 0;
}
