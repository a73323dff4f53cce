/**
 * Reading the demo's chat replies and its /metrics from a test (demo/server.mjs, in-process or
 * spawned): a POST that starts a reply, and one metric's value out of the Prometheus text.
 */
import { expect } from 'vitest';
import { request, type Stream } from '../replies/helpers.js';

export { request, type Stream };

/** POST /api/chat on the demo at `base`, as its page sends it. */
export function chat(base: string, message: string): Promise<Stream> {
  return request(`${base}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
}

/** One sample of `/metrics` (`name` with its labels as written, e.g. `x{reason="stopped"}`). */
export async function metric(base: string, sample: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  expect(line, `${sample} in /metrics`).toBeDefined();
  return Number(line!.slice(sample.length + 1));
}

/** The text of a reply's `token` events, in order. */
export const textOf = (events: readonly { event: string; data: string }[]): string =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => e.data)
    .join('');
