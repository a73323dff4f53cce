// `npm start`: builds the pages and starts the demo on http://localhost:3000 (PORT to change).
import { buildPages } from './build.mjs';
import { startDemo } from './server.mjs';

await buildPages();
const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST,
  dataDir: process.env.DEMO_DATA_DIR,
  reconnectDelay: process.env.DEMO_RETRY_MS ? Number(process.env.DEMO_RETRY_MS) : undefined,
  redisUrl: process.env.REDIS_URL || undefined,
  redisPrefix: process.env.DEMO_REDIS_PREFIX || undefined,
}).catch((error) => {
  console.error(`ssekit demo: ${error.message}`);
  process.exit(1);
});
console.log(`feed history: ${demo.broker}`);
console.log(`chat replies: ${demo.repliesBroker}`);
console.log(
  `ssekit demo listening on ${demo.url}  (chat: ${demo.url}/  AI SDK chat: ${demo.url}/ai  feed: ${demo.url}/feed  dashboard: ${demo.url}/dashboard)`,
);
console.log(`AI SDK chat (useChat, resume: true): page ${demo.url}/ai, api ${demo.url}/api/ai/chat`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`${signal}: closing streams (clients will reconnect and resume)`);
    demo.close().then(
      () => process.exit(0),
      (error) => {
        console.error('shutdown failed:', error);
        process.exit(1);
      },
    );
  });
}
