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
  ])('exits 1 with one line on stderr on a fatal error: %s', async (name, respond) => {
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
    if (name === '401') expect(cli.stderr()).toContain('HTTP 401 Unauthorized: no token');
  });

  it('-X sets the method, a -H Content-Type wins over the one --json sets, an event without id prints id ""', async () => {
    const seen: { method?: string; type?: string; body: string }[] = [];
    const url = await server((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, type: req.headers['content-type'], body });
        sse(res);
        res.end('data: x\n\n');
      });
    });
    const cli = run([
      'listen',
      url,
      '-X',
      'put',
      '-H',
      'Content-Type: application/merge-patch+json',
      '--json',
      '{"a":1}',
      '--no-reconnect',
    ]);
    expect(await cli.exited).toBe(0);
    expect(seen).toEqual([{ method: 'PUT', type: 'application/merge-patch+json', body: '{"a":1}' }]);
    expect(cli.stdout()).toBe('{"id":"","event":"message","data":"x"}\n');
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

  it('serve --history n keeps n events per topic: resuming from an older id gets a reset', async () => {
    const hub = run(['serve', '--port', '0', '--history', '2']);
    try {
      const base = (await hub.waitFor('stderr', /listening on (http:\S+)/)).match(
        /listening on (http:\S+)/,
      )![1]!;
      const ids: string[] = [];
      for (const data of ['one', 'two', 'three', 'four']) {
        const published = run(['publish', `${base}/`, 'news', data]);
        expect(await published.exited).toBe(0);
        ids.push(published.stdout().trim());
      }
      const first = async (lastEventId: string) => {
        const listener = run(['listen', `${base}/?topic=news`, '--last-event-id', lastEventId]);
        const line = await listener.waitFor('stdout', '\n');
        listener.child.kill('SIGINT');
        await listener.exited;
        return JSON.parse(line.split('\n')[0]!) as { event: string; data: string };
      };
      // Kept: 'three' and 'four'. After 'one', 'two' is gone: the hub cannot replay, it resets.
      expect((await first(ids[0]!)).event).toBe('reset');
      expect(await first(ids[1]!)).toMatchObject({ event: 'message', data: 'three' });
    } finally {
      hub.child.kill('SIGTERM');
    }
    expect(await hub.exited).toBe(0);
  });

  it('publish sends its -H headers; a refusal or an answer without an id exits 1 with one line', async () => {
    const auth: (string | undefined)[] = [];
    let answer = (res: ServerResponse) => res.writeHead(200).end('{"id":"7-0"}');
    const url = await server((req, res) => {
      auth.push(req.headers.authorization);
      answer(res);
    });
    const ok = run(['publish', url, 't', 'x', '-H', 'Authorization: Bearer t0k']);
    expect(await ok.exited).toBe(0);
    expect(ok.stdout()).toBe('7-0\n');
    expect(auth).toEqual(['Bearer t0k']);

    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const noId = run(['publish', url, 't', 'x']);
    expect(await noId.exited).toBe(1);
    expect(noId.stdout()).toBe('');
    expect(stderrLines(noId)).toEqual([
      'ssekit: fatal: the server answered without an event id: is this a hub URL?',
    ]);

    answer = (res) => res.writeHead(403).end('forbidden');
    const refused = run(['publish', url, 't', 'x']);
    expect(await refused.exited).toBe(1);
    expect(stderrLines(refused)).toEqual(['ssekit: fatal: HTTP 403: forbidden']);
  });

  it('publish to an unreachable hub exits 1', async () => {
    const url = await server((_req, res) => res.end());
    const closed = url;
    await servers.pop()!.close();
    expect(await run(['publish', `${closed}/`, 't', 'x']).exited).toBe(1);
  });
});

/** A URL on 127.0.0.1 where nothing listens (a port that was free a moment ago). */
async function closedUrl(): Promise<string> {
  const s = await listen((_req, res) => res.end());
  await s.close();
  return `${s.url}/`;
}

/** The exit code, or 'running' if it has not exited within `ms` (then it is killed). */
async function exitWithin(cli: ReturnType<typeof run>, ms: number): Promise<number | null | 'running'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), ms)));
  const result = await Promise.race([cli.exited, late]);
  clearTimeout(timer);
  if (result === 'running') {
    cli.child.kill('SIGKILL');
    await cli.exited;
  }
  return result;
}

const stderrLines = (cli: ReturnType<typeof run>): string[] => cli.stderr().trim().split('\n');

describe('the CLI explains itself', () => {
  it('listen to a closed port: one line per attempt saying why and when it retries, then why it gave up', async () => {
    const url = await closedUrl();
    const cli = run(['listen', url, '--max-retries', '1']);
    expect(await cli.exited).toBe(1);
    const lines = stderrLines(cli);
    // --max-retries 1: one retry, two attempts.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(`^ssekit: cannot reach ${url}: connection refused; retrying in \\d+\\.\\d s$`),
    );
    expect(lines[1]).toBe(`ssekit: fatal: cannot reach ${url}: connection refused (gave up after 1 retry)`);
  });

  it.each([0, 1, 2, 3])(
    'listen --max-retries %i makes exactly that many retries: requests counted at the server',
    async (n) => {
      let requests = 0;
      const url = await server((_req, res) => {
        // The first answer opens a stream that sets a 1 ms reconnection time and ends (the
        // first failure); every later one is a 503 (failures in a row, retryable).
        if (requests++ === 0) {
          sse(res);
          res.end('retry: 1\n\n');
        } else res.writeHead(503).end();
      });
      const cli = run(['listen', url, '--max-retries', String(n)]);
      expect(await cli.exited).toBe(1);
      expect(requests).toBe(n + 1);
      expect(stderrLines(cli).at(-1)).toMatch(
        n === 0 ? /^ssekit: fatal: disconnected/ : new RegExp(`gave up after ${n} retr(y|ies)\\)$`),
      );
    },
  );

  it('listen --no-reconnect to a closed port: the same words, no error class names', async () => {
    const url = await closedUrl();
    const cli = run(['listen', url, '--no-reconnect']);
    expect(await cli.exited).toBe(1);
    expect(stderrLines(cli)).toEqual([`ssekit: fatal: cannot reach ${url}: connection refused`]);
  });

  it('listen: a stream that ends says so, and reconnects, on one line', async () => {
    let calls = 0;
    const url = await server((_req, res) => {
      if (calls++ > 0) return res.writeHead(204).end();
      sse(res);
      res.end('retry: 5\nid: 9\ndata: x\n\n');
    });
    const cli = run(['listen', url]);
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toMatch(
      /^ssekit: disconnected: the server ended the stream; reconnecting in \d+\.\d s \(after 9\)$/m,
    );
  });

  it.each([
    ['ftp://127.0.0.1/feed', 'ftp:'],
    ['file:///etc/passwd', 'file:'],
  ])('listen %s is a usage error (exit 2), not a retry loop', async (url, scheme) => {
    const cli = run(['listen', url]);
    expect(await exitWithin(cli, 10_000)).toBe(2);
    expect(stderrLines(cli)).toEqual([
      `ssekit listen: listen needs an http:// or https:// URL, not ${scheme} (see ssekit listen --help)`,
    ]);
  });

  it('publish: a closed port and a non-http URL, in the same words', async () => {
    const url = await closedUrl();
    const closed = run(['publish', url, 't', 'x']);
    expect(await closed.exited).toBe(1);
    expect(stderrLines(closed)).toEqual([`ssekit: fatal: cannot reach ${url}: connection refused`]);
    const ftp = run(['publish', 'ftp://127.0.0.1/', 't', 'x']);
    expect(await ftp.exited).toBe(2);
    expect(stderrLines(ftp)).toHaveLength(1);
  });

  it('serve on a busy port exits 1 with "port N is in use", not a usage error', async () => {
    const busy = await server((_req, res) => res.end());
    const port = new URL(busy).port;
    const cli = run(['serve', '--port', port]);
    expect(await exitWithin(cli, 20_000)).toBe(1);
    const lines = stderrLines(cli);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`error: port ${port} is in use on 127.0.0.1`);
    expect(cli.stderr()).not.toContain('--help');
  });

  it.each([
    [['serve', '--bogus'], 'ssekit serve: unknown option --bogus (see ssekit serve --help)'],
    [
      ['serve', '--histroy', '5'],
      'ssekit serve: unknown option --histroy (did you mean --history?) (see ssekit serve --help)',
    ],
    [
      ['serve', '--history', '-1'],
      'ssekit serve: --history must be a whole number from 1 to 1000000 (see ssekit serve --help)',
    ],
    [
      ['serve', '--history', '--port', '0'],
      'ssekit serve: --history needs a value (see ssekit serve --help)',
    ],
    [['serve', '-p'], 'ssekit serve: -p needs a value (see ssekit serve --help)'],
    [
      ['listen', 'http://127.0.0.1/', '--pretty=yes'],
      'ssekit listen: --pretty takes no value (see ssekit listen --help)',
    ],
    [['listen', 'http://127.0.0.1/', '-z'], 'ssekit listen: unknown option -z (see ssekit listen --help)'],
    [
      ['listen', 'http://127.0.0.1/', '--max-retries', '-2'],
      'ssekit listen: --max-retries must be a whole number (see ssekit listen --help)',
    ],
    [['publish', '--event'], 'ssekit publish: --event needs a value (see ssekit publish --help)'],
    // --no-reconnect: were the flags taken, the command would fail once and exit 1, not 2.
    [
      ['listen', 'http://127.0.0.1:1/', '--json', '{nope', '--no-reconnect'],
      'ssekit listen: --json is not valid JSON (see ssekit listen --help)',
    ],
    [
      ['listen', 'http://127.0.0.1:1/', '-d', 'x', '--json', '{}', '--no-reconnect'],
      'ssekit listen: give -d or --json, not both (see ssekit listen --help)',
    ],
  ])('%j: one line in our words, exit 2', async (args, line) => {
    const cli = run(args);
    expect(await cli.exited).toBe(2);
    expect(stderrLines(cli)).toEqual([line]);
  });

  it('a value may start with a dash: --last-event-id -5 is an id', async () => {
    const seen: (string | undefined)[] = [];
    const url = await server((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(204).end();
    });
    const cli = run(['listen', url, '--last-event-id', '-5']);
    expect(await cli.exited).toBe(0);
    expect(seen).toEqual(['-5']);
  });

  it('listen with a body and reconnection on warns once that the request is repeated', async () => {
    const bodies: string[] = [];
    const url = await server((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        bodies.push(body);
        if (bodies.length > 2) return res.writeHead(204).end();
        sse(res);
        res.end('retry: 5\ndata: reply\n\n');
      });
    });
    const cli = run(['listen', url, '--json', '{"message":"hi"}']);
    expect(await cli.exited).toBe(0);
    // It was repeated (twice), and said so once, before the first request.
    expect(bodies).toEqual(['{"message":"hi"}', '{"message":"hi"}', '{"message":"hi"}']);
    const warnings = stderrLines(cli).filter((l) => l.includes('warning'));
    expect(warnings).toEqual([
      'ssekit: warning: the POST is sent again, body and all, on each reconnect (after every end of stream or error) unless its answer names a reply (Content-Location); add --no-reconnect to send it once',
    ]);
    expect(stderrLines(cli)[0]).toBe(warnings[0]);

    // No warning without a body, or with --no-reconnect.
    const once = run(['listen', url, '--json', '{"message":"hi"}', '--no-reconnect']);
    const get = run(['listen', url]);
    expect(await once.exited).toBe(0);
    expect(await get.exited).toBe(0);
    expect(once.stderr() + get.stderr()).not.toContain('warning');
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
