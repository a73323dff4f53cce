/**
 * One contender of bench/callgrind/replies.sh in one process, no sockets: R replies of T tokens
 * at once, each read to its end through its Response body, ROUNDS times. `stream`: the tokens
 * through streamEvents; `memory`: the same tokens through createReplies on its in-memory broker
 * (a producer that sends each token), the POST's own reader reading them. Every token comes from
 * one ticker (a 1 ms interval, each reply one token a tick), as in bench/replies-server.mjs.
 * SOCKET=1: each reply is a POST over a real connection on 127.0.0.1, served by ssekit/node's
 * createRequestListener and read raw by a client in this process (its count is the same for any
 * build that writes the same bytes): the Node adapter and node:http are then counted too.
 * Env: WHO (stream | memory), T, R, ROUNDS, BURST (tokens a tick, back to back: bench:replies'
 * part 1b has 10; default 1), RETENTION (ms a reply's log is kept after its end; default the
 * library's), DIST (a dist/ to load; default this checkout's).
 */
const DIST = process.env.DIST ?? new URL('../../dist', import.meta.url).pathname;
const { streamEvents } = await import(`${DIST}/server.js`);
const { createReplies } = await import(`${DIST}/replies.js`);
const WHO = process.env.WHO ?? 'memory';
const T = Number(process.env.T ?? 100);
const R = Number(process.env.R ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BURST = Number(process.env.BURST ?? 1);

const replies = createReplies({
  basePath: '/replies/',
  limits: {
    maxRunning: 1e6,
    maxReaders: 1e6,
    maxStoredBytes: 2 ** 30,
    ...(process.env.RETENTION ? { retention: Number(process.env.RETENTION) } : {}),
  },
  onError: (error) => {
    console.error(error);
    process.exit(1);
  },
});
let due = [];
const ticker = setInterval(() => {
  const now = due;
  due = [];
  for (const resolve of now) resolve();
}, 1);
async function* tokens(n) {
  for (let i = 0; i < n; i++) {
    if (i % BURST === 0) await new Promise((resolve) => due.push(resolve));
    yield `t${i}`;
  }
}
const post = () => new Request('http://127.0.0.1/chat', { method: 'POST' });
const respond = {
  stream: (request) => streamEvents(tokens(T), { signal: request.signal }),
  memory: (request) =>
    replies.start(request, async ({ send }) => {
      for await (const token of tokens(T)) await send(token);
    }),
}[WHO];
if (respond === undefined) throw new Error(`WHO must be stream or memory, not ${WHO}`);

let bytes = 0;
async function readAll(response) {
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    bytes += value.byteLength;
  }
}
/** SOCKET=1: one POST over a real connection, answered by createRequestListener; its bytes read raw. */
function overSocket(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        'POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      );
    });
    socket.on('data', (data) => {
      bytes += data.byteLength;
    });
    socket.on('end', resolve);
    socket.on('error', reject);
  });
}
let net;
let server;
if (process.env.SOCKET === '1') {
  const http = await import('node:http');
  net = await import('node:net');
  const { createRequestListener } = await import(`${DIST}/node.js`);
  server = http.createServer(createRequestListener((request) => respond(request)));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}
const one =
  server === undefined ? async () => readAll(await respond(post())) : () => overSocket(server.address().port);
for (let round = 0; round < ROUNDS; round++) {
  await Promise.all(Array.from({ length: R }, one));
}
clearInterval(ticker);
server?.close();
if (bytes < R * T * ROUNDS * 8) throw new Error(`read ${bytes} bytes: tokens are missing`);
process.exit(0);
