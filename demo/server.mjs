// The demo server: one node:http server for the pages, the chat endpoint (POST, a resumable
// reply with ssekit/replies: GET resumes it, DELETE stops it), the hub (GET subscribe, POST
// publish) and live figures (SSE); and the AI SDK's chat endpoints (ssekit/ai-sdk) at fixed URLs,
// so any AI SDK client (`useChat` with `resume: true`) can use them as they are.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';
import { createChatReplies } from '../dist/ai-sdk.js';
import { createHub } from '../dist/hub.js';
import { createRequestListener } from '../dist/node.js';
import { createReplies } from '../dist/replies.js';
import { isRequestBodyError, readBodyText, streamEvents } from '../dist/server.js';
import { reply, sleep } from './bot.mjs';
import { createJournalBroker } from './journal-broker.mjs';

const PUBLIC = new URL('./public/', import.meta.url);
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};
// A chat prompt is a line of text: far more than that is a mistake or an attack.
const MAX_CHAT_BYTES = 64 * 1024;
// The AI SDK's chat (useChat's default transport, `api: '/api/ai/chat'`): POST starts a reply,
// GET /api/ai/chat/<chatId>/stream resumes the chat's active one, DELETE there stops it.
const AI_CHAT = '/api/ai/chat';
// Its POST carries the whole conversation (the transport's `messages`): more room than a prompt.
const MAX_AI_CHAT_BYTES = 1024 * 1024;
const POSTS = new Set(['/api/chat', AI_CHAT, '/hub', '/api/burst', '/api/slow-consumer']);
// A chat reply's URL (Content-Location of POST /api/chat): GET resumes it, DELETE stops it.
const REPLIES = '/api/replies/';
// A bot reply is about 60 tokens: room to spare, and a bound the Redis streams keep whole.
const MAX_REPLY_EVENTS = 1000;
// The feed page opens with its topic's last events (GET /api/recent): at most this many.
const RECENT_EVENTS = 20;
// A topic name the feed may ask about: what the hub takes by default (no control characters).
const TOPIC = /^[^\p{Cc}]{1,128}$/u;
// The dashboard's burst: 200 events spread over about 1.5 s, so the figures and the chart move.
const BURST = { events: 200, batch: 10, gapMs: 75 };
// The dashboard's rates are averaged over the last 2 s of samples (one sample every 500 ms).
const RATE_WINDOW = 4;
const PAGES = {
  '/': 'chat.html',
  '/chat': 'chat.html',
  '/ai': 'ai.html',
  '/feed': 'feed.html',
  '/dashboard': 'dashboard.html',
};

/**
 * Starts the demo. With `redisUrl`, the feed's topics, history and resume live in Redis, and so
 * do the chat's replies (so several demo servers share them: a reply started on one is resumed
 * and stopped on another); otherwise the feed is in a journal-backed in-memory broker and the
 * replies in memory (a restart loses them).
 * @param {{ port?: number, host?: string, dataDir?: string, reconnectDelay?: number, redisUrl?: string, redisPrefix?: string, log?: (line: string) => void }} [options]
 */
export async function startDemo(options = {}) {
  const log = options.log ?? ((line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`));
  const dataDir = options.dataDir ?? '.demo-data';
  const redisPrefix = options.redisPrefix ?? 'ssekit-demo:';
  const broker = options.redisUrl
    ? await redisBroker(options.redisUrl, redisPrefix, 2000, log)
    : await createJournalBroker(join(dataDir, 'feed.ndjson'), {
        maxEvents: 2000,
        onError: (error) => log(`journal: ${error?.message ?? error}`),
      });
  // The replies get a broker of their own: the hub's clients subscribe and publish to any topic
  // of its broker, and must not reach a reply's log. On Redis, a prefix of their own (the hub's
  // keys under the demo prefix all start with `t:`, `l:`, `c:`, `seq` or `wake:`), and streams
  // long enough to keep a whole reply plus its markers (docs/replies.md, "On the broker").
  const repliesBroker = options.redisUrl
    ? await redisBroker(options.redisUrl, `${redisPrefix}replies:`, MAX_REPLY_EVENTS + 100, log).catch(
        async (error) => {
          await broker.close().catch(() => {});
          throw error;
        },
      )
    : undefined;
  const replies = createReplies({
    broker: repliesBroker,
    basePath: REPLIES,
    limits: { maxEventsPerReply: MAX_REPLY_EVENTS },
    onError: (error) => log(`replies error: ${error?.message ?? error}`),
  });
  // The AI SDK's chat: replies of their own (their own broker on Redis: one live feed a broker).
  const aiBroker = options.redisUrl
    ? await redisBroker(options.redisUrl, `${redisPrefix}ai:`, MAX_REPLY_EVENTS + 100, log).catch(
        async (error) => {
          await Promise.all([broker.close(), repliesBroker?.close()]).catch(() => {});
          throw error;
        },
      )
    : undefined;
  const aiChat = createChatReplies({
    api: AI_CHAT,
    broker: aiBroker,
    limits: { maxEventsPerReply: MAX_REPLY_EVENTS },
    onError: (error) => log(`ai chat error: ${error?.message ?? error}`),
  });
  const brokerName = options.redisUrl
    ? `Redis at ${options.redisUrl}`
    : `journal ${join(dataDir, 'feed.ndjson')}`;
  const reconnectDelay = options.reconnectDelay ?? 1000;
  const hub = createHub({
    broker,
    heartbeat: 5000,
    // Small on purpose, so "simulate a slow consumer" trips it quickly.
    limits: { maxQueuedBytes: 256 * 1024 },
    reconnectHint: { delay: reconnectDelay, spread: reconnectDelay },
    onError: (error) => log(`hub error: ${error?.message ?? error}`),
  });

  // events/s from deltas of the hub's counters, sampled on each stats tick and averaged over
  // the last RATE_WINDOW ticks: a burst reads as a rate for a while, not as one spike or a 0.
  const sample = () => ({ t: Date.now(), m: hub.metrics() });
  const stats = async function* (signal) {
    const window = [sample()];
    while (!signal.aborted) {
      await sleep(500, signal).catch(() => {});
      if (signal.aborted) return;
      const now = sample();
      const last = window[0];
      window.push(now);
      if (window.length > RATE_WINDOW + 1) window.shift();
      const seconds = (now.t - last.t) / 1000;
      yield {
        event: 'stats',
        data: JSON.stringify({
          subscribers: now.m.subscribers,
          topics: now.m.topics,
          eventsPublished: now.m.eventsPublished,
          eventsDelivered: now.m.eventsDelivered,
          bytesWritten: now.m.bytesWritten,
          slowConsumerDisconnects: now.m.slowConsumerDisconnects,
          replays: now.m.replays,
          publishedPerSecond: Math.round((now.m.eventsPublished - last.m.eventsPublished) / seconds),
          deliveredPerSecond: Math.round((now.m.eventsDelivered - last.m.eventsDelivered) / seconds),
        }),
      };
    }
  };

  /**
   * The last RECENT_EVENTS events of `topic`, oldest first, and `after`: the id they were read up
   * to, for the page to subscribe with as its Last-Event-ID (the hub replays what came since).
   * The broker reads history forward only, so this pages through the topic's history (2,000
   * events at most in this demo), keeping the last few.
   */
  const recent = async (topic) => {
    const events = [];
    let from = '0-0';
    for (;;) {
      // '0-0' is below every id: a page from it holds the oldest events history still keeps.
      const page = await broker.history([topic], from, { limit: 200 });
      for (const { id, event, data } of page.events) events.push({ id, event, data });
      events.splice(0, events.length - RECENT_EVENTS);
      if (!page.more || page.events.length === 0) {
        // Nothing of this topic after `head` was there: resuming after it misses nothing.
        return { events, after: page.head };
      }
      from = page.events.at(-1).id;
    }
  };

  let closing;
  let bursting = false;
  /** Publishes the burst in small batches, spread out in time: one at a time. */
  const burst = async () => {
    bursting = true;
    try {
      for (let i = 1; i <= BURST.events; i++) {
        if (closing) break;
        await hub.publish('load', { event: 'tick', data: String(i) });
        if (i % BURST.batch === 0 && i < BURST.events) await new Promise((r) => setTimeout(r, BURST.gapMs));
      }
    } finally {
      bursting = false;
    }
  };

  const json = (status, body, headers = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });

  /** A request that says where it comes from (`Origin`) must come from here. */
  const refuseForeignOrigin = (request, url) => {
    const origin = request.headers.get('origin');
    if (origin === null) return undefined;
    let host;
    try {
      host = new URL(origin).host;
    } catch {
      // `Origin: null` (a sandboxed frame, a file: page) or garbage: not this site.
    }
    return host === url.host ? undefined : json(403, { error: `cross-site request from ${origin}` });
  };

  /**
   * Refuses what any web page could send here: a "simple" cross-site POST (text/plain, a form,
   * multipart) needs no CORS preflight, so the browser sends it, with cookies, and only hides the
   * answer. JSON cannot be sent cross-site without a preflight, which this server never grants;
   * and a request that says where it comes from (`Origin`) must come from here.
   */
  const refuseCrossSite = (request, url) => {
    const foreign = refuseForeignOrigin(request, url);
    if (foreign !== undefined) return foreign;
    const type = request.headers.get('content-type');
    if (type === null || type.split(';')[0].trim().toLowerCase() !== 'application/json') {
      return json(415, { error: 'Content-Type must be application/json' });
    }
    return undefined;
  };

  /** @param {Request} request */
  const handle = async (request, context) => {
    const url = new URL(request.url);
    const path = url.pathname;
    // Every POST here starts work (a reply, a publish, a burst): none may come from another site.
    if (request.method === 'POST' && POSTS.has(path)) {
      const refused = refuseCrossSite(request, url);
      if (refused !== undefined) return refused;
    }
    if (path === '/api/chat' && request.method === 'POST') {
      let message = '';
      try {
        message = String(
          JSON.parse(await readBodyText(request, { maxBytes: MAX_CHAT_BYTES })).message ?? '',
        ).trim();
      } catch (error) {
        if (isRequestBodyError(error) && error.type === 'too-large') {
          // The rest of the body is never read: `connection: close` has node drop the connection
          // after this answer instead of draining it for the next request.
          return json(413, { error: `body over ${MAX_CHAT_BYTES} bytes` }, { connection: 'close' });
        }
        return json(400, { error: 'body must be JSON: { "message": "..." }' });
      }
      if (!message) return json(400, { error: 'empty message' });
      // The bot runs once, detached from this request: a reload or a dropped connection does not
      // stop it, and the page resumes from the reply's URL (Content-Location) with Last-Event-ID.
      // `signal` aborts on DELETE of that URL (from any demo server sharing the broker).
      return replies.start(request, ({ signal }) => reply(message, signal, { log }));
    }
    if (path === AI_CHAT && request.method === 'POST') {
      let id;
      let message = '';
      try {
        const body = JSON.parse(await readBodyText(request, { maxBytes: MAX_AI_CHAT_BYTES }));
        id = body.id;
        message = lastUserText(body.messages);
      } catch (error) {
        if (isRequestBodyError(error) && error.type === 'too-large') {
          return json(413, { error: `body over ${MAX_AI_CHAT_BYTES} bytes` }, { connection: 'close' });
        }
        return json(400, { error: 'body must be JSON: { "id": "...", "messages": [...] }' });
      }
      if (typeof id !== 'string' || id === '' || id.length > 256 || !TOPIC.test(id)) {
        return json(400, { error: 'id: the chat id, 1 to 256 characters, no control characters' });
      }
      if (!message) return json(400, { error: 'no user message with text' });
      // The same mock bot, as the AI SDK's UI message chunks; `signal` aborts on a stop.
      return aiChat.start(request, id, ({ signal }) => uiMessageChunks(reply(message, signal, { log })));
    }
    if (path.startsWith(`${AI_CHAT}/`)) {
      if (request.method === 'DELETE') {
        const refused = refuseForeignOrigin(request, url);
        if (refused !== undefined) return refused;
      }
      return aiChat.handler(request);
    }
    if (path.startsWith(REPLIES)) {
      // A cross-site DELETE needs a CORS preflight, which this server never grants; a browser
      // still says where a DELETE comes from, and another site may not stop a reply.
      if (request.method === 'DELETE') {
        const refused = refuseForeignOrigin(request, url);
        if (refused !== undefined) return refused;
      }
      return replies.handler(request);
    }
    if (path === '/hub') return hub.handler(request, context);
    if (path === '/api/stats' && request.method === 'GET') {
      return streamEvents((signal) => stats(signal), { signal: request.signal });
    }
    if (path === '/api/recent' && request.method === 'GET') {
      const topic = url.searchParams.get('topic') ?? '';
      if (!TOPIC.test(topic))
        return json(400, { error: 'topic: 1 to 128 characters, no control characters' });
      return json(200, await recent(topic), { 'cache-control': 'no-store' });
    }
    if (path === '/api/burst' && request.method === 'POST') {
      if (bursting) return json(409, { error: 'a burst is already running' });
      await burst();
      return json(200, { published: BURST.events });
    }
    if (path === '/api/slow-consumer' && request.method === 'POST') {
      // A subscriber that never reads: its queue fills past maxQueuedBytes and the hub cuts it off.
      const response = await hub.subscribe({ topics: ['load'] });
      const payload = 'x'.repeat(4096);
      for (let i = 0; i < 100; i++) await hub.publish('load', { event: 'blob', data: payload });
      await response.body?.cancel().catch(() => {});
      log('slow consumer: simulated (a subscriber that never read)');
      return json(200, { slowConsumerDisconnects: hub.metrics().slowConsumerDisconnects });
    }
    if (path === '/metrics') {
      return new Response(hub.prometheus() + repliesPrometheus(replies.metrics(), aiChat.metrics()), {
        headers: { 'content-type': 'text/plain; version=0.0.4' },
      });
    }
    if (path === '/healthz') return json(200, { ok: true });
    if (request.method === 'GET') {
      const file = PAGES[path] ?? (/^\/[\w.-]+\.(js|css|svg|map)$/.test(path) ? path.slice(1) : undefined);
      if (file !== undefined) {
        try {
          const body = await readFile(new URL(file, PUBLIC));
          return new Response(body, {
            headers: { 'content-type': TYPES[extname(file)], 'cache-control': 'no-cache' },
          });
        } catch {
          // fall through to 404
        }
      }
    }
    return json(404, { error: 'not found' });
  };

  const server = createServer(
    createRequestListener(handle, { onError: (e) => log(`error: ${e?.message ?? e}`) }),
  );
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host, resolve);
  });
  const address = server.address();
  const host =
    options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : 'localhost';
  const url = `http://${host}:${address.port}`;

  const close = () =>
    (closing ??= (async () => {
      // Ends every stream with a retry hint: pages come back spread out and resume from history.
      // Running replies get the same 2 s to finish, then end as `shutdown`.
      await Promise.all([
        hub.close({ timeout: 2000 }),
        replies.close({ timeout: 2000 }),
        aiChat.replies.close({ timeout: 2000 }),
      ]);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve()));
      await Promise.all([broker.close(), repliesBroker?.close(), aiBroker?.close()]);
    })());
  const repliesName = options.redisUrl ? `Redis at ${options.redisUrl}` : 'memory (this process)';
  return {
    url,
    port: address.port,
    hub,
    replies,
    aiChat,
    broker: brokerName,
    repliesBroker: repliesName,
    close,
  };
}

/** The text of the last user message of the AI SDK's `messages` (its `text` parts). */
function lastUserText(messages) {
  if (!Array.isArray(messages)) throw new TypeError('messages must be an array');
  const last = messages.findLast((m) => m?.role === 'user');
  if (!Array.isArray(last?.parts)) return '';
  return last.parts
    .filter((p) => p?.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('')
    .trim();
}

/** The bot's `token` events as the AI SDK's UI message chunks: one text part, a delta a token. */
async function* uiMessageChunks(tokens) {
  yield { type: 'start' };
  yield { type: 'text-start', id: 'text' };
  for await (const token of tokens) yield { type: 'text-delta', id: 'text', delta: token.data };
  yield { type: 'text-end', id: 'text' };
  yield { type: 'finish' };
}

/** The figures of the chat's replies and the AI SDK chat's, summed, for /metrics (Prometheus text). */
function repliesPrometheus(chat, ai) {
  const m = {
    started: chat.started + ai.started,
    running: chat.running + ai.running,
    ended: Object.fromEntries(Object.entries(chat.ended).map(([k, v]) => [k, v + (ai.ended[k] ?? 0)])),
  };
  const lines = [
    ['ssekit_replies_started_total', 'counter', 'Chat reply producers started on this instance.', m.started],
    ['ssekit_replies_running', 'gauge', 'Chat reply producers running on this instance now.', m.running],
  ];
  let out = '';
  for (const [name, type, help, value] of lines) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
  }
  const ended = 'ssekit_replies_ended_total';
  out += `# HELP ${ended} Chat replies ended on this instance, by reason.\n# TYPE ${ended} counter\n`;
  for (const [reason, count] of Object.entries(m.ended)) out += `${ended}{reason="${reason}"} ${count}\n`;
  return out;
}

async function redisBroker(url, prefix, maxLen, log) {
  const { createRedisBroker } = await import('../dist/redis.js');
  const broker = createRedisBroker({
    url,
    prefix,
    maxLen,
    onError: (error) => log(`redis: ${error?.message ?? error}`),
  });
  try {
    await broker.ready();
  } catch (error) {
    await broker.close().catch(() => {});
    throw new Error(`cannot reach Redis at ${url}: ${error?.message ?? error}`);
  }
  return broker;
}
