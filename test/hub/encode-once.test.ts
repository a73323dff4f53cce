/**
 * "A broadcast encodes an event once and writes the same bytes to every subscriber" (issue
 * 12.5): counted on the encoder itself, and checked on the bytes members of a group receive.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHub, getDirectWriteHook, type Hub } from '../../src/hub/index.js';
import { nextMacrotask, readEvents } from './helpers.js';

const calls = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../src/protocol/encode.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/protocol/encode.js')>();
  return {
    ...original,
    encodeEventBytes: (...args: Parameters<typeof original.encodeEventBytes>) => {
      calls.count++;
      return original.encodeEventBytes(...args);
    },
  };
});

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close({ timeout: 100 })));
});

/** Attaches a recording transport to a subscription's body, as an adapter would. */
function record(response: Response): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const hook = getDirectWriteHook(response.body);
  if (hook === undefined) throw new Error('the hub body offers no direct write');
  const attached = hook({ write: (chunk) => chunks.push(chunk), queuedBytes: 0, end() {}, abort() {} });
  if (attached === undefined) throw new Error('attach declined');
  return chunks;
}

describe('encode once per broadcast', () => {
  it('encodes each event once, however many subscribers, groups and replays take it', async () => {
    const hub = createHub({ heartbeat: false });
    hubs.push(hub);
    const subs: Response[] = [];
    for (let i = 0; i < 20; i++) subs.push(await hub.subscribe({ topics: ['a'] }));
    for (let i = 0; i < 20; i++) subs.push(await hub.subscribe({ topics: ['a', 'b'] }));
    for (let i = 0; i < 20; i++) subs.push(await hub.subscribe({ topics: ['b'] }));
    calls.count = 0;
    const first = await hub.publish(['a', 'b'], 'one');
    await hub.publish('a', 'two');
    await hub.publish('b', 'three');
    await nextMacrotask();
    expect(calls.count).toBe(3);
    // A resume replays the same event objects: no new encoding either (in-memory broker).
    const resumed = await hub.subscribe({ topics: ['a', 'b'], lastEventId: first });
    expect((await readEvents(resumed, 2)).events.map((e) => e.data)).toEqual(['two', 'three']);
    expect(calls.count).toBe(3);
    const { events } = await readEvents(subs[25] as Response, 3);
    expect(events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
  });

  it('hands the members of a group the very same bytes (one chunk object per flush)', async () => {
    const hub = createHub({ heartbeat: false });
    hubs.push(hub);
    const a = record(await hub.subscribe({ topics: ['t'] }));
    const b = record(await hub.subscribe({ topics: ['t'] }));
    const c = record(await hub.subscribe({ topics: ['t', 'u'] }));
    const before = [a.length, b.length, c.length];
    await hub.publish('t', 'x');
    await hub.publish('t', 'y');
    await nextMacrotask();
    const [na, nb, nc] = before as [number, number, number];
    expect(a.length).toBe(na + 1); // two events, one write
    expect(b.length).toBe(nb + 1);
    expect(a[na]).toBe(b[nb]); // the same object, not equal copies
    expect(new TextDecoder().decode(a[na])).toMatch(/data: x\n\n.*data: y\n\n$/s);
    // Another group gets its own batch, with the same bytes.
    expect(c[nc]).not.toBe(a[na]);
    expect(c[nc]).toEqual(a[na]);
  });
});
