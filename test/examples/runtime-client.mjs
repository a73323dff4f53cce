// @ts-check
// ssekit/client inside Bun or Deno (run by test/examples/runtimes.test.ts): against the base URL
// given as the first argument (one of the examples), it POSTs to /chat, resumes /events from
// Last-Event-ID 41 and opens /events with EventSource; against the second (a stream that ends
// after two events), it reads on across the reconnect. It prints what it saw as one JSON line.
import { connect, EventSource } from 'ssekit/client';

/** @type {{ Deno?: { args: string[] }, process?: { argv: string[] } }} */
const g = /** @type {any} */ (globalThis);
const [base, dropping] = g.Deno ? g.Deno.args : (g.process?.argv.slice(2) ?? []);

let reply = '';
const chat = connect(`${base}/chat`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'hello' }),
  reconnect: false,
});
for await (const event of chat) reply += JSON.parse(event.data).content;

/** @type {string[]} */
const resumed = [];
for await (const event of connect(`${base}/events`, { lastEventId: '41' })) {
  resumed.push(event.id);
  if (resumed.length === 2) break;
}

const eventSource = await new Promise((resolve) => {
  const source = new EventSource(`${base}/events`);
  source.addEventListener('tick', (event) => {
    source.close();
    const { data, lastEventId, type } = /** @type {MessageEvent} */ (event);
    resolve({ type, lastEventId, n: JSON.parse(data).n, readyState: source.readyState });
  });
});

/** @type {string[]} */
const acrossReconnect = [];
for await (const event of connect(`${dropping}`)) {
  acrossReconnect.push(`${event.id}:${event.data}`);
  if (acrossReconnect.length === 3) break;
}

console.log(JSON.stringify({ reply, resumed, eventSource, acrossReconnect }));
