/**
 * `ssekit listen` against a real `ssekit/replies` server (node:http, 127.0.0.1): a POST whose
 * answer names a reply survives a cut connection without posting again, and a reply's URL is a
 * stream like any other that ends the command with exit 0.
 */
import { describe, expect, it } from 'vitest';
import { recordingServersPerTest, steppedProducer } from '../replies/helpers.js';
import { run } from './run.js';

const serve = recordingServersPerTest();

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { id: string; event: string; data: string });

describe('ssekit listen and replies', () => {
  it('listen --json <POST url>: a cut connection resumes by GET, nothing posted again, every token once', async () => {
    const p = steppedProducer(6);
    // t1 to t3 go at once; the rest waits for the cut.
    p.step(1);
    p.step(2);
    const app = await serve(p.produce);
    const cli = run(['listen', `${app.url}/chat`, '--json', '{"message":"hi"}']);
    await cli.waitFor('stdout', '"data":"t3"');
    // The TCP connection of the POST, cut server side mid-reply; the producer goes on.
    app.hits[0]!.socket.destroy();
    p.finish();
    expect(await cli.exited).toBe(0);
    const events = lines(cli.stdout());
    expect(events.map((e) => e.data)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6', '{"reason":"done"}']);
    expect(events.at(-1)?.event).toBe('end');
    expect(app.hits.map((h) => [h.method, h.lastEventId])).toEqual([
      ['POST', undefined],
      ['GET', events[2]!.id],
    ]);
    expect(app.hits[0]!.body).toBe('{"message":"hi"}');
    expect(app.hits[1]!.body).toBe('');
    expect(app.replies.metrics().started).toBe(1);
    expect(cli.stderr()).toMatch(
      /connected: 200 \S+\/chat; the reply is at \S+\/replies\/\S+, where a reconnect/,
    );
  });

  it('listen <reply url> resumes a reply, and its end then 204 ends the command with exit 0', async () => {
    const p = steppedProducer(3);
    p.finish();
    const app = await serve(p.produce);
    const start = run(['listen', `${app.url}/chat`, '--json', '{}']);
    expect(await start.exited).toBe(0);
    const all = lines(start.stdout());
    const reply = /the reply is at (\S+),/.exec(start.stderr())![1]!;
    // From the first token on: the rest, the end, then (the server ends the stream) a reconnect
    // that gets 204.
    const cli = run(['listen', reply, '--last-event-id', all[0]!.id]);
    expect(await cli.exited).toBe(0);
    expect(lines(cli.stdout())).toEqual(all.slice(1));
    expect(app.hits.slice(1).map((h) => [h.method, h.lastEventId])).toEqual([
      ['GET', all[0]!.id],
      ['GET', all.at(-1)!.id],
    ]);
    expect(app.replies.metrics().started).toBe(1);
  });
});
