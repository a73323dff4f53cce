// `npm start`: builds the pages and starts the demo on http://localhost:3000 (PORT to change).
import { buildPages } from './build.mjs';
import { startDemo } from './server.mjs';

await buildPages();
const demo = await startDemo({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST,
  dataDir: process.env.DEMO_DATA_DIR,
  retryMs: process.env.DEMO_RETRY_MS ? Number(process.env.DEMO_RETRY_MS) : undefined,
});
if (process.env.REDIS_URL) {
  console.log(
    'REDIS_URL is set, but the Redis broker (ssekit/redis) is not part of this build yet: using the journal-backed in-memory broker.',
  );
}
console.log(
  `ssekit demo listening on ${demo.url}  (chat: ${demo.url}/  feed: ${demo.url}/feed  dashboard: ${demo.url}/dashboard)`,
);

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
