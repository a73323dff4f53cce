import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../helpers/server.js';
import { run } from './run.js';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const s = await listen(handler);
  servers.push(s);
  return s.url;
}

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

describe('ssekit listen', () => {
  it('prints NDJSON when piped, then exits 0 when the server answers 204', async () => {
    let calls = 0;
    const url = await server((_req, res) => {
      if (calls++ > 0) return res.writeHead(204).end();
      sse(res);
      res.end('retry: 5\nid: 1\nevent: greet\ndata: hello\ndata: world\n\ndata: {"n":2}\n\n');
    });
    const cli = run(['listen', url]);
    expect(await cli.exited).toBe(0);
    const lines = cli
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { id: '1', event: 'greet', data: 'hello\nworld' },
      { id: '1', event: 'message', data: '{"n":2}' },
    ]);
  });

  it('prints pretty events with --pretty: type and id on one line, data indented', async () => {
    const url = await server((_req, res) => {
      sse(res);
      res.end('id: 7\nevent: tick\ndata: a\ndata: b\n\n');
    });
    const cli = run(['listen', url, '--pretty', '--no-reconnect']);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toBe('tick #7\n  a\n  b\n');
  });

  it('--raw writes the bytes as received', async () => {
    const wire = ': hi\nid: 1\ndata: x\r\n\r\n';
    const url = await server((_req, res) => {
      sse(res);
      res.end(wire);
    });
    const cli = run(['listen', url, '--raw', '--no-reconnect']);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toBe(wire);
  });

  it('sends method, headers and body, and reconnects with Last-Event-ID and the same body', async () => {
    const seen: { method?: string; auth?: string; type?: string; lastId?: string; body: string }[] = [];
    const url = await server((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({
          method: req.method,
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          lastId: req.headers['last-event-id'] as string | undefined,
          body,
        });
        if (seen.length === 1) {
          sse(res);
          return res.end('retry: 5\nid: 41\ndata: first\n\n');
        }
        if (seen.length === 2) return res.destroy(); // a network error mid-way: retried too
        if (seen.length === 3) {
          sse(res);
          return res.end('id: 42\ndata: second\n\n');
        }
        res.writeHead(204).end();
      });
    });
    const cli = run([
      'listen',
      url,
      '-H',
      'Authorization: Bearer t0k',
      '--json',
      '{"q":1}',
      '--last-event-id',
      '40',
    ]);
    expect(await cli.exited).toBe(0);
    expect(
      cli
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).data),
    ).toEqual(['first', 'second']);
    expect(seen.map((s) => s.lastId)).toEqual(['40', '41', '41', '42']);
    for (const s of seen) {
      expect(s).toMatchObject({
        method: 'POST',
        auth: 'Bearer t0k',
        type: 'application/json',
        body: '{"q":1}',
      });
    }
    // The state was reported on stderr, never on stdout.
    expect(
      cli
        .stderr()
        .split('\n')
        .filter((l) => l.includes('reconnecting')).length,
    ).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['401', (res: ServerResponse) => res.writeHead(401, { 'content-type': 'text/plain' }).end('no token')],
    [
      'wrong content type',
      (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>'),
    ],
  ])('exits 1 with one line on stderr on a fatal error: %s', async (_name, respond) => {
    let calls = 0;
    const url = await server((_req, res) => {
      calls++;
      respond(res);
    });
    const cli = run(['listen', url]);
    expect(await cli.exited).toBe(1);
    expect(calls).toBe(1);
    expect(cli.stdout()).toBe('');
    expect(cli.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 on a usage error', async () => {
    expect(await run(['listen']).exited).toBe(2);
    expect(await run(['listen', 'not a url']).exited).toBe(2);
    expect(await run(['listen', 'http://x', '--bogus']).exited).toBe(2);
    expect(await run(['nope']).exited).toBe(2);
  });
});

describe('ssekit serve and publish', () => {
  it('serves a hub: subscribe, publish, resume, /healthz, /metrics, clean stop', async () => {
    const hub = run(['serve', '--port', '0']);
    try {
      const base = (await hub.waitFor('stderr', /listening on (http:\S+)/)).match(
        /listening on (http:\S+)/,
      )![1]!;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });

      const listener = run(['listen', `${base}/?topic=news`]);
      await listener.waitFor('stderr', 'connected');
      const published = run(['publish', `${base}/`, 'news', 'hello', '-e', 'headline']);
      expect(await published.exited).toBe(0);
      const id = published.stdout().trim();
      const line = await listener.waitFor('stdout', '\n');
      expect(JSON.parse(line)).toEqual({ id, event: 'headline', data: 'hello' });
      listener.child.kill('SIGINT');
      expect(await listener.exited).toBe(0);

      // Published while nobody listens: a listener resuming from `id` gets it.
      const missed = run(['publish', `${base}/`, 'news', 'while away']);
      expect(await missed.exited).toBe(0);
      const resumed = run(['listen', `${base}/?topic=news`, '--last-event-id', id]);
      expect(JSON.parse(await resumed.waitFor('stdout', '\n')).data).toBe('while away');
      resumed.child.kill('SIGINT');
      await resumed.exited;

      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^ssekit_hub_events_published_total(\{[^}]*\})? 2$/m);
    } finally {
      hub.child.kill('SIGTERM');
    }
    expect(await hub.exited).toBe(0);
    expect(
      hub
        .stderr()
        .trim()
        .split('\n')
        .map((l) => l.replace(/^\S+ ssekit serve\[\d+\]: /, '').split(' ')[0]),
    ).toEqual(['listening', 'SIGTERM:', 'stopped']);
  });

  it('serve --jwt-secret refuses publishes without a token; publish exits 1', async () => {
    const hub = run(['serve', '--port', '0', '--jwt-secret', 's'.repeat(32)]);
    try {
      const base = (await hub.waitFor('stderr', /listening on (http:\S+)/)).match(
        /listening on (http:\S+)/,
      )![1]!;
      const cli = run(['publish', `${base}/`, 'news', 'x']);
      expect(await cli.exited).toBe(1);
      expect(cli.stderr().trim().split('\n')).toHaveLength(1);
    } finally {
      hub.child.kill('SIGTERM');
    }
    expect(await hub.exited).toBe(0);
  });

  it('publish to an unreachable hub exits 1', async () => {
    const url = await server((_req, res) => res.end());
    const closed = url;
    await servers.pop()!.close();
    expect(await run(['publish', `${closed}/`, 't', 'x']).exited).toBe(1);
  });
});

describe('help and version', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const cli = run(['--version']);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout().trim()).toBe(version);
  });

  it.each(['listen', 'serve', 'publish'])(
    '%s --help shows usage with examples and exits 0',
    async (command) => {
      const cli = run([command, '--help']);
      expect(await cli.exited).toBe(0);
      expect(cli.stdout()).toMatch(new RegExp(`^Usage: ssekit ${command}`));
      expect(cli.stdout()).toContain(`Examples:\n  ssekit ${command}`);
    },
  );
});
