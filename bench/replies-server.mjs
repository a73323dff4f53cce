// One server of `npm run bench:replies`, in its own process so the CPU it reports is the server's
// alone. Usage: node bench/replies-server.mjs <contender>
//   stream     plain streamEvents (ssekit/server): the POST streams the tokens, nothing kept
//   memory     ssekit/replies on its in-memory broker
//   redis      ssekit/replies on createRedisBroker (REDIS_URL, SSEKIT_PREFIX)
//   resumable  resumable-stream (the AI SDK's package) on the same Redis (its ioredis entry),
//              key prefix RS_PREFIX
//   memory-base, redis-base: memory and redis with ssekit as built in SSEKIT_BASELINE_DIST
// and, for `npm run bench:ai`, the same tokens as the AI SDK's UI message chunks (`text-delta`s
// between `start`/`text-start` and `text-end`/`finish`), served as `useChat` reads them:
//   ai-sdk            the AI SDK's createUIMessageStreamResponse (`ai` 6), nothing kept
//   ai-sdk-resumable  the same, with the AI SDK's resume recipe: consumeSseStream hands the SSE
//                     to resumable-stream's createNewResumableStream (ioredis, RS_PREFIX)
//   chat-memory       ssekit/ai-sdk's createChatReplies on its in-memory broker
//   chat-redis        createChatReplies on createRedisBroker (REDIS_URL, SSEKIT_PREFIX)
// Every contender is served through ssekit/node's createRequestListener (the same adapter):
//   POST /chat?n=N            starts a reply of N tokens, answers 200 streaming it, with
//                             Content-Location: the URL where it resumes
//   GET <Content-Location>    resumes it (Last-Event-ID for ssekit; resumable-stream replays
//                             from the start, it has no event ids); on `stream`, which keeps
//                             nothing, a GET is a new stream of one token (part 2's control)
// Tokens come from one shared "upstream" ticker (the same for every contender): every TICK_MS
// it hands the next token to the replies whose turn it is, each reply one token per
// `periodTicks` ticks (its phase set when it starts, so a thousand replies spread over the
// period, as model streams do). The token itself is `t<index>` (a few bytes, an LLM token).
// IPC: first message out {port}; {cmd:'pace', periodTicks, burst} -> {} (`burst` tokens per
// turn, back to back: an upstream read that carries several); {cmd:'cpu'} -> {cpu, redis}
// (process CPU user+system µs; Redis commands this process has sent, by name; the event loop's
// delay p99 since the last ask, ms; p50/p99 of the server's side of the resumes since then, ms;
// `timeline`: per resume [url, connection accepted, 'request', first token written], absolute ms
// on the readers' clock, performance.timeOrigin + now()).
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadDist } from './lib/dist.mjs';

const name = process.argv[2];
const base = name.endsWith('-base');
const kind = base ? name.slice(0, -'-base'.length) : name;
const TICK_MS = 5;

// ---- the upstream ----------------------------------------------------------------------------

let periodTicks = 10;
let burst = 1; // tokens per turn (an upstream read that carries several)
let slots = Array.from({ length: periodTicks }, () => []);
let tickCount = 0;
let nextPhase = 0;
setInterval(() => {
  const slot = slots[tickCount++ % periodTicks];
  if (slot.length === 0) return;
  const due = slot.splice(0);
  for (const resolve of due) resolve();
}, TICK_MS);

/** N tokens, one per turn of this source's phase. */
async function* tokens(n) {
  const phase = nextPhase++ % periodTicks;
  for (let i = 0; i < n; i++) {
    if (i % burst === 0) await new Promise((resolve) => slots[phase].push(resolve));
    yield `t${i}`;
  }
}

/** N tokens as a ReadableStream of UI message chunks, what `toUIMessageStream()` hands over. */
function uiChunks(n) {
  const source = tokens(n);
  let state = 0;
  return new ReadableStream({
    async pull(controller) {
      if (state === 0) {
        state = 1;
        controller.enqueue({ type: 'start' });
        controller.enqueue({ type: 'text-start', id: '0' });
        return;
      }
      const { value, done } = await source.next();
      if (!done) {
        controller.enqueue({ type: 'text-delta', id: '0', delta: value });
        return;
      }
      controller.enqueue({ type: 'text-end', id: '0' });
      controller.enqueue({ type: 'finish' });
      controller.close();
    },
  });
}

// ---- Redis commands this process sends (ioredis, for every Redis contender) ------------------

const commands = {};
if (kind === 'redis' || kind === 'resumable' || kind === 'chat-redis' || kind === 'ai-sdk-resumable') {
  const { Redis } = await import('ioredis');
  const send = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function sendCommand(command, stream) {
    commands[command.name] = (commands[command.name] ?? 0) + 1;
    return send.call(this, command, stream);
  };
}

// ---- the contenders --------------------------------------------------------------------------

const nOf = (request) => Number(new URL(request.url).searchParams.get('n'));
const fail = (error) => {
  console.error(`${name}:`, error);
  process.exit(1);
};

async function ssekitStream() {
  const { streamEvents } = await loadDist('server.js', base);
  // A GET is part (2)'s control: a new stream whose one token is there at once (as a resume's
  // first token is in the log), so that reader's latency is what any new request waits for on
  // this loaded server, with no resumability in it.
  const now = async function* () {
    yield 't0';
  };
  return (request) =>
    streamEvents(request.method === 'GET' ? now() : tokens(nOf(request)), { signal: request.signal });
}

async function ssekitReplies() {
  const { createReplies } = await loadDist('replies.js', base);
  let broker;
  if (kind === 'redis') {
    const { createRedisBroker } = await loadDist('redis.js', base);
    broker = createRedisBroker({ url: process.env.REDIS_URL, prefix: process.env.SSEKIT_PREFIX });
    await broker.ready();
  }
  const replies = createReplies({
    broker,
    basePath: '/replies/',
    // Set, not left to defaults: a thousand replies run at once here, from one address.
    limits: { maxRunning: 100_000, maxReaders: 100_000, maxStoredBytes: 1024 * 1024 * 1024 },
    onError: fail,
  });
  return (request) => {
    if (request.method === 'POST') {
      const n = nOf(request);
      return replies.start(request, async ({ send }) => {
        for await (const token of tokens(n)) await send(token);
      });
    }
    return replies.handler(request);
  };
}

async function resumableStream() {
  const { Redis } = await import('ioredis');
  const { createResumableStreamContext } = await import('resumable-stream/ioredis');
  const { SSE_HEADERS } = await loadDist('server.js');
  const publisher = new Redis(process.env.REDIS_URL);
  const subscriber = new Redis(process.env.REDIS_URL);
  const context = createResumableStreamContext({
    keyPrefix: process.env.RS_PREFIX,
    publisher,
    subscriber,
    waitUntil: (promise) => promise.catch(fail),
  });
  const sse = (body, id) => {
    const headers = new Headers(SSE_HEADERS);
    headers.set('content-location', `/resume/${id}`);
    return new Response(body.pipeThrough(new TextEncoderStream()), { headers });
  };
  let ids = 0;
  return async (request) => {
    if (request.method === 'POST') {
      const n = nOf(request);
      const id = `${process.pid}-${ids++}`;
      // What the AI SDK hands it: a stream of SSE text, one chunk per token.
      const body = await context.resumableStream(id, () => {
        const source = tokens(n);
        return new ReadableStream({
          async pull(controller) {
            const { value, done } = await source.next();
            if (done) controller.close();
            else controller.enqueue(`data: ${value}\n\n`);
          },
        });
      });
      return sse(body, id);
    }
    const id = new URL(request.url).pathname.slice('/resume/'.length);
    const body = await context.resumeExistingStream(id);
    if (!body) return new Response(null, { status: body === null ? 204 : 404 });
    return sse(body, id);
  };
}

async function aiSdk() {
  const { createUIMessageStreamResponse } = await import('ai');
  if (kind === 'ai-sdk')
    return (request) => createUIMessageStreamResponse({ stream: uiChunks(nOf(request)) });
  const { Redis } = await import('ioredis');
  const { createResumableStreamContext } = await import('resumable-stream/ioredis');
  const context = createResumableStreamContext({
    keyPrefix: process.env.RS_PREFIX,
    publisher: new Redis(process.env.REDIS_URL),
    subscriber: new Redis(process.env.REDIS_URL),
    waitUntil: (promise) => promise.catch(fail),
  });
  let ids = 0;
  return async (request) => {
    if (request.method === 'POST') {
      const id = `${process.pid}-${ids++}`;
      // The AI SDK's resume recipe (its docs, "Chatbot Resume Streams"): the response's SSE is
      // teed to resumable-stream, which keeps it on Redis for a resume.
      return createUIMessageStreamResponse({
        stream: uiChunks(nOf(request)),
        headers: { 'content-location': `/resume/${id}` },
        async consumeSseStream({ stream }) {
          await context.createNewResumableStream(id, () => stream);
        },
      });
    }
    const id = new URL(request.url).pathname.slice('/resume/'.length);
    const body = await context.resumeExistingStream(id);
    if (!body) return new Response(null, { status: 204 });
    return new Response(body.pipeThrough(new TextEncoderStream()), {
      headers: { 'content-type': 'text/event-stream', 'x-vercel-ai-ui-message-stream': 'v1' },
    });
  };
}

async function chatReplies() {
  const { createChatReplies } = await loadDist('ai-sdk.js', base);
  let broker;
  if (kind === 'chat-redis') {
    const { createRedisBroker } = await loadDist('redis.js', base);
    broker = createRedisBroker({ url: process.env.REDIS_URL, prefix: process.env.SSEKIT_PREFIX });
    await broker.ready();
  }
  const chat = createChatReplies({
    api: '/chat',
    broker,
    limits: { maxRunning: 100_000, maxReaders: 100_000, maxStoredBytes: 1024 * 1024 * 1024 },
    onError: fail,
  });
  let ids = 0;
  return (request) => {
    if (request.method === 'POST') {
      const n = nOf(request);
      return chat.start(request, `${process.pid}-${ids++}`, () => uiChunks(n));
    }
    return chat.handler(request);
  };
}

const makers = {
  'ai-sdk': aiSdk,
  'ai-sdk-resumable': aiSdk,
  'chat-memory': chatReplies,
  'chat-redis': chatReplies,
  stream: ssekitStream,
  memory: ssekitReplies,
  redis: ssekitReplies,
  resumable: resumableStream,
};
if (!makers[kind]) fail(new Error(`unknown contender ${name}`));
const handler = await makers[kind]();
const { createRequestListener } = await loadDist('node.js', base);
const listener = createRequestListener(handler);
// The server's side of a resume: from the GET's 'request' event to the first write that carries
// a token (what the reader measures, minus the network and the reader's own process). Seen on
// the socket's `write`, not the response's: ssekit/node writes an ssekit body to the socket
// itself unless something wraps `res.write` (a middleware that must see every byte), so timing
// `res.write` would put every resumed stream on its slower path for the rest of the reply.
const resumeLatencies = [];
const timeline = [];
const origin = performance.timeOrigin;
const accepted = new WeakMap();
const TOKEN = Buffer.from('data: t');
const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const t0 = performance.now();
    const entry = [req.url, origin + (accepted.get(req.socket) ?? Number.NaN), origin + t0, Number.NaN];
    timeline.push(entry);
    const socket = req.socket;
    const write = socket.write;
    socket.write = function writeAndTime(chunk, ...rest) {
      if (
        typeof chunk === 'string'
          ? chunk.includes('data: t')
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).includes(TOKEN)
      ) {
        const t = performance.now();
        resumeLatencies.push(t - t0);
        entry[3] = origin + t;
        delete socket.write; // the prototype's again
      }
      return write.call(this, chunk, ...rest);
    };
  }
  listener(req, res);
});
server.on('connection', (socket) => accepted.set(socket, performance.now()));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));

// The event loop's delay: a saturated server answers late whatever the code does.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

process.on('message', (m) => {
  if (m.cmd === 'pace') {
    periodTicks = m.periodTicks;
    burst = m.burst;
    slots = Array.from({ length: periodTicks }, () => []);
    process.send({});
  } else if (m.cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    const sorted = Float64Array.from(resumeLatencies.splice(0)).sort();
    const q = (p) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : Number.NaN;
    process.send({
      cpu: user + system,
      redis: { ...commands },
      loopP99: loopDelay.percentile(99) / 1e6,
      resumeP50: q(0.5),
      resumeP99: q(0.99),
      timeline: timeline.splice(0),
    });
    loopDelay.reset();
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
