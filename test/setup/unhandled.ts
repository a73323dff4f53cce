/**
 * Fails the test during which a promise rejection went unhandled (vitest also reports stray
 * ones after the fact and fails the run; this names the test that caused it).
 */
import { afterEach } from 'vitest';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason);
});

afterEach(async () => {
  // Node reports unhandled rejections after the microtask queue drains: give it one turn.
  await new Promise((resolve) => setImmediate(resolve));
  if (unhandled.length > 0) {
    const [first] = unhandled.splice(0);
    throw new Error(`unhandled promise rejection during this test: ${String(first)}`, { cause: first });
  }
});
