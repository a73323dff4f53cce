/**
 * `ssekit serve` on the open network (issue 12): Host checks, capacity under the open-files
 * limit, request deadlines, CORS with credentials, what health and metrics reveal, and HTTP
 * hygiene. Each test runs the built bin, as a user would.
 */
import http from 'node:http';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { subscriberCapacity } from '../../src/adapters/node/limits.js';
import { type RawClient, rawClient } from '../helpers/raw.js';
import { type Run, type RunOptions, run } from './run.js';

const SECRET = 's'.repeat(32);

const started: Run[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(
    started.splice(0).map(async (cli) => {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await cli.exited;
    }),
  );
});

interface Served {
  cli: Run;
  base: string;
  port: number;
  /** The log line of the start, for what follows "listening on". */
  started: string;
}

async function serve(args: string[], options?: RunOptions): Promise<Served> {
  const cli = run(['serve', '--port', '0', ...args], {}, options);
  started.push(cli);
  const text = await cli.waitFor('stderr', /listening on (http:\S+)/);
  const base = text.match(/listening on (http:\S+)/)![1]!;
  return { cli, base, port: Number(new URL(base).port), started: text };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Ask {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  localAddress?: string;
}

/** One request on its own connection (node:http, so Host can be anything). */
function ask(
  port: number,
  { method = 'GET', path = '/', headers = {}, body, localAddress }: Ask,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers,
        agent: false,
        ...(localAddress ? { localAddress } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  until(needle: string): Promise<void>;
  close(): void;
}

/** A subscription held open, read as text; a refusal resolves too (status, then the body ends). */
function stream(
  port: number,
  path: string,
  options: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        headers: { accept: 'text/event-stream', ...options.headers },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        let text = '';
        const waiters = new Set<() => void>();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          for (const waiter of [...waiters]) waiter();
        });
        res.on('error', () => {});
        const close = () => req.destroy();
        cleanups.push(close);
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          text: () => text,
          until: (needle) =>
            new Promise((done) => {
              const check = () => {
                if (!text.includes(needle)) return;
                waiters.delete(check);
                done();
              };
              waiters.add(check);
              check();
            }),
          close,
        });
      },
    );
    req.on('error', reject);
  });
}

async function raw(port: number): Promise<RawClient> {
  const client = await rawClient(port);
  cleanups.push(() => client.destroy());
  return client;
}

const token = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT({ ssekit: claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

const publish = (port: number, topic: string, data: string, headers: Record<string, string> = {}) =>
  ask(port, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ topic, data }),
  });

describe('serve: Host names (DNS rebinding)', () => {
  it('on loopback, answers loopback names only, on every path', async () => {
    const { port } = await serve([]);
    for (const path of ['/', '/?topic=a', '/healthz', '/metrics', '/nowhere']) {
      const answer = await ask(port, { path, headers: { host: 'evil.example' } });
      expect(answer.status, path).toBe(403);
      expect(answer.body).toBe('host not allowed\n');
    }
    expect((await ask(port, { method: 'POST', headers: { host: `evil.example:${port}` } })).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'app.localhost']) {
      expect((await ask(port, { path: '/healthz', headers: { host } })).status, host).toBe(200);
    }
  });

  it('--allowed-hosts replaces the default: listed names (a leading dot for subdomains), nothing else', async () => {
    const { port } = await serve(['--allowed-hosts', 'hub.example.com,.apps.example.org']);
    for (const host of [
      'hub.example.com',
      `HUB.example.com:${port}`,
      'apps.example.org',
      'x.apps.example.org',
    ]) {
      expect((await ask(port, { path: '/healthz', headers: { host } })).status, host).toBe(200);
    }
    for (const host of ['localhost', 'evil.example', 'sub.hub.example.com']) {
      expect((await ask(port, { path: '/healthz', headers: { host } })).status, host).toBe(403);
    }
  });

  it('a bad --allowed-hosts is a usage error', async () => {
    expect(await run(['serve', '--port', '0', '--allowed-hosts', 'a/b']).exited).toBe(2);
    expect(await run(['serve', '--port', '0', '--allowed-hosts', ',']).exited).toBe(2);
  });
});

describe('serve: capacity within the open-files limit', () => {
  it('under ulimit -n 200, a flood from several addresses is refused with 503 + Retry-After, and /healthz still answers', async () => {
    const { port } = await serve([], { openFiles: 200 });
    const capacity = subscriberCapacity({ openFiles: 200 });
    const held: Stream[] = [];
    let refused: Stream | undefined;
    // Bounded: past 200 descriptors the server could not have answered at all.
    for (let i = 0; i < 250 && refused === undefined; i++) {
      const sub = await stream(port, '/?topic=flood', { localAddress: `127.0.0.${2 + (i % 4)}` });
      if (sub.status === 200) {
        await sub.until(':');
        held.push(sub);
      } else {
        refused = sub;
      }
    }
    expect(held.length).toBe(capacity);
    expect(refused?.status).toBe(503);
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);

    // Everything is still held, and the server still answers everyone else.
    const health = await ask(port, { path: '/healthz' });
    expect(health.status).toBe(200);
    expect((await publish(port, 'flood', 'still here')).status).toBe(200);
    await held[0]!.until('still here');
    for (const sub of held) sub.close();
  });

  it('--max-subscribers and --max-subscribers-per-address set the limits (0: no per-address limit)', async () => {
    const one = await serve(['--max-subscribers-per-address', '1']);
    expect((await stream(one.port, '/?topic=a', { localAddress: '127.0.0.2' })).status).toBe(200);
    expect((await stream(one.port, '/?topic=a', { localAddress: '127.0.0.2' })).status).toBe(503);
    expect((await stream(one.port, '/?topic=a', { localAddress: '127.0.0.3' })).status).toBe(200);

    const two = await serve(['--max-subscribers', '2', '--max-subscribers-per-address', '0']);
    expect((await stream(two.port, '/?topic=a')).status).toBe(200);
    expect((await stream(two.port, '/?topic=a')).status).toBe(200);
    const third = await stream(two.port, '/?topic=a');
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBeDefined();
  });

  it('limit and history flags refuse nonsense (exit 2)', async () => {
    for (const args of [
      ['--max-subscribers', '0'],
      ['--max-subscribers', 'lots'],
      ['--max-subscribers-per-address', '-1'],
      ['--history-bytes', 'big'],
      ['--history-bytes', '0'],
      ['--history-total-bytes', '1x'],
      ['--history-bytes', '8m', '--redis', 'redis://127.0.0.1:1'],
      ['--request-timeout', '0'],
      ['--request-timeout', '-1'],
      ['--headers-timeout', 'soon'],
      ['--headers-timeout', '1.5e400'],
    ]) {
      expect(await run(['serve', '--port', '0', ...args]).exited, args.join(' ')).toBe(2);
    }
  });
});

describe('serve: request deadlines', () => {
  it('a publish body trickled a byte a second is cut at --request-timeout; open streams are not', async () => {
    const { port } = await serve(['--request-timeout', '2000']);
    const sub = await stream(port, '/?topic=t');
    await sub.until(':');

    const client = await raw(port);
    client.write(
      `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`,
    );
    const trickle = setInterval(() => client.write('{'), 1000);
    cleanups.push(() => clearInterval(trickle));
    // node's default would hold it for 300 s.
    expect(await client.closedWithin(10_000)).toBe('closed');
    clearInterval(trickle);

    // The stream opened before the deadline passed is still served.
    expect((await publish(port, 't', 'after the deadline')).status).toBe(200);
    await sub.until('after the deadline');
  });

  it('a 413 on Content-Length is answered, then the connection closes without waiting for the body', async () => {
    const { port } = await serve([]);
    const client = await raw(port);
    client.write(
      `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`,
    );
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/^HTTP\/1\.1 413 /);
    expect(await client.closedWithin(5000)).toBe('closed');
  });
});

describe('serve: CORS with credentials', () => {
  const app = 'http://localhost:3000';

  it('a listed origin gets its origin echoed with credentials; preflights are cached; Vary: Origin', async () => {
    const { port } = await serve(['--jwt-secret', SECRET, '--cors', `${app},https://App.Example.com/`]);
    const preflight = await ask(port, {
      method: 'OPTIONS',
      headers: {
        origin: app,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'last-event-id',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(app);
    expect(preflight.headers['access-control-allow-credentials']).toBe('true');
    expect(preflight.headers['access-control-max-age']).toBe('600');
    expect(preflight.headers['access-control-allow-headers']).toContain('last-event-id');
    expect(preflight.headers.vary).toMatch(/origin/i);

    const cookie = `ssekit_token=${await token({ subscribe: ['news'] })}`;
    const sub = await stream(port, '/?topic=news', {
      headers: { origin: 'https://app.example.com', cookie },
    });
    expect(sub.status).toBe(200);
    expect(sub.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(sub.headers['access-control-allow-credentials']).toBe('true');
    expect(sub.headers['access-control-max-age']).toBeUndefined();

    const other = await ask(port, { path: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-allow-credentials']).toBeUndefined();
    expect(other.headers.vary).toMatch(/origin/i);
  });

  it('the listed origins may publish with the cookie; other origins may not', async () => {
    const { port } = await serve(['--jwt-secret', SECRET, '--cors', app]);
    const cookie = `ssekit_token=${await token({ publish: ['news'] })}`;
    expect((await publish(port, 'news', 'x', { cookie, origin: app })).status).toBe(200);
    expect((await publish(port, 'news', 'x', { cookie, origin: 'http://localhost:4000' })).status).toBe(403);
  });

  it('with *, no credentials header is ever sent; * with other origins is a usage error', async () => {
    const { port } = await serve(['--jwt-secret', SECRET, '--cors', '*']);
    const answer = await ask(port, {
      method: 'OPTIONS',
      headers: { origin: app, 'access-control-request-method': 'POST' },
    });
    expect(answer.headers['access-control-allow-origin']).toBe('*');
    expect(answer.headers['access-control-allow-credentials']).toBeUndefined();
    expect(await run(['serve', '--port', '0', '--cors', `*,${app}`]).exited).toBe(2);
    expect(await run(['serve', '--port', '0', '--cors', 'http://localhost:3000/path']).exited).toBe(2);
  });
});

describe('serve: what it reveals', () => {
  it('/healthz answers {"ok":true} and nothing else', async () => {
    const { port } = await serve([]);
    const answer = await ask(port, { path: '/healthz' });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('{"ok":true}');
  });

  it('with a JWT secret, /metrics is not on the hub port', async () => {
    const { port } = await serve(['--jwt-secret', SECRET]);
    expect((await ask(port, { path: '/metrics' })).status).toBe(404);
  });

  it('--metrics-listen serves /metrics on its own address, and only there', async () => {
    const { port, started } = await serve(['--jwt-secret', SECRET, '--metrics-listen', '127.0.0.1:0']);
    const metricsUrl = new URL(started.match(/metrics on (http:\S+?)[),]/)![1]!);
    const metricsPort = Number(metricsUrl.port);
    expect(metricsPort).not.toBe(port);
    expect((await ask(port, { path: '/metrics' })).status).toBe(404);

    const metrics = await ask(metricsPort, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toMatch(/^ssekit_hub_subscribers/m);
    expect((await ask(metricsPort, { path: '/' })).status).toBe(404);
    expect((await ask(metricsPort, { path: '/healthz' })).status).toBe(404);
    const post = await ask(metricsPort, { method: 'POST', path: '/metrics' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await ask(metricsPort, { path: '/metrics', headers: { host: 'evil.example' } })).status).toBe(
      403,
    );
  });
});

describe('serve: HTTP hygiene', () => {
  it('TRACE and CONNECT get 405 with Allow, and write no log line', async () => {
    const { cli, port } = await serve([]);
    const trace = await ask(port, { method: 'TRACE' });
    expect(trace.status).toBe(405);
    expect(trace.headers.allow).toBe('GET, HEAD, POST, OPTIONS');

    const client = await raw(port);
    client.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await client.until('\r\n\r\n');
    expect(client.text()).toMatch(/^HTTP\/1\.1 405 /);
    expect(client.text()).toMatch(/\r\nallow: GET, HEAD, POST, OPTIONS\r\n/i);

    // One more request, so a log line of the refusals would have been written by now.
    await ask(port, { path: '/healthz' });
    expect(cli.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('other methods on /healthz and /metrics get 405 with Allow: GET, HEAD; HEAD works', async () => {
    const { port } = await serve([]);
    for (const [method, path] of [
      ['POST', '/healthz'],
      ['PUT', '/healthz'],
      ['DELETE', '/metrics'],
      ['POST', '/metrics'],
      ['OPTIONS', '/healthz'],
    ] as const) {
      const answer = await ask(port, { method, path });
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(answer.headers.allow).toBe('GET, HEAD');
    }
    const head = await ask(port, { method: 'HEAD', path: '/healthz' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('X-Content-Type-Options: nosniff on every answer', async () => {
    const { port } = await serve(['--cors', 'http://localhost:3000']);
    const answers: [string, http.IncomingHttpHeaders][] = [];
    const requests: Ask[] = [
      { path: '/healthz' },
      { path: '/metrics' },
      { path: '/nowhere' },
      { path: '/', headers: { host: 'evil.example' } },
      { method: 'TRACE' },
      { method: 'PUT', path: '/healthz' },
      { method: 'PUT' },
      { path: '/' },
      {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' },
      },
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' },
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"topic":"a","data":"x"}' },
    ];
    for (const request of requests) {
      const answer = await ask(port, request);
      answers.push([`${request.method ?? 'GET'} ${request.path ?? '/'} ${answer.status}`, answer.headers]);
    }
    const sub = await stream(port, '/?topic=a');
    answers.push(['stream', sub.headers]);
    const client = await raw(port);
    client.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await client.until('\r\n\r\n');
    answers.push([
      'CONNECT',
      { 'x-content-type-options': /\r\nx-content-type-options: (\S+)\r\n/i.exec(client.text())?.[1] },
    ]);
    for (const [what, headers] of answers) expect(headers['x-content-type-options'], what).toBe('nosniff');
  });
});
