import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { subscriberCapacity } from '../../src/adapters/node/limits.js';
import { readServeConfig, type ServeConfig } from '../../src/cli/serve-options.js';
import { UsageError } from '../../src/cli/shared.js';

async function config(...argv: string[]): Promise<ServeConfig> {
  const read = await readServeConfig(argv);
  if (read === 'help') throw new Error('unexpected help');
  return read;
}

describe('serve flags', () => {
  it('allowed hosts: loopback names on a loopback address, any name elsewhere, the list when given', async () => {
    expect((await config()).allowedHosts).toBe('loopback');
    expect((await config('--host', '::1')).allowedHosts).toBe('loopback');
    expect((await config('--host', 'localhost')).allowedHosts).toBe('loopback');
    expect((await config('--host', '0.0.0.0')).allowedHosts).toEqual(['*']);
    expect((await config('--host', '10.1.2.3')).allowedHosts).toEqual(['*']);
    expect(
      (await config('--host', '0.0.0.0', '--allowed-hosts', 'hub.example.com, .example.org')).allowedHosts,
    ).toEqual(['hub.example.com', '.example.org']);
  });

  it('subscriber limits: the capacity of the open-files limit by default, 0 turns the per-address one off', async () => {
    expect((await config()).limits).toEqual({
      maxSubscribers: subscriberCapacity(),
      maxSubscribersPerAddress: 1000,
    });
    expect((await config('--max-subscribers', '5', '--max-subscribers-per-address', '0')).limits).toEqual({
      maxSubscribers: 5,
      maxSubscribersPerAddress: Number.POSITIVE_INFINITY,
    });
  });

  it('history bounds in events and bytes (k, m, g are binary)', async () => {
    expect((await config()).history).toEqual({ maxEvents: 1000 });
    expect(
      (await config('--history', '50', '--history-bytes', '8m', '--history-total-bytes', '1GiB')).history,
    ).toEqual({
      maxEvents: 50,
      maxBytes: 8 * 1024 * 1024,
      maxTotalBytes: 1024 ** 3,
    });
    expect((await config('--history-bytes', '65536')).history.maxBytes).toBe(65536);
    expect((await config('--history-bytes', '64KB')).history.maxBytes).toBe(65536);
    for (const bad of ['0', '1.5m', 'm', '8t', '8 m', '64ib']) {
      await expect(config('--history-bytes', bad), bad).rejects.toBeInstanceOf(UsageError);
    }
  });

  it('deadlines in ms, like every duration; the header one never past the request one', async () => {
    expect(await config()).toMatchObject({ headersTimeout: 10_000, requestTimeout: 15_000 });
    expect(await config('--request-timeout', '2000')).toMatchObject({
      headersTimeout: 2000,
      requestTimeout: 2000,
    });
    expect(await config('--headers-timeout', '3000', '--request-timeout', '60000')).toMatchObject({
      headersTimeout: 3000,
      requestTimeout: 60_000,
    });
    expect(await config('--request-timeout', '1e5')).toMatchObject({ requestTimeout: 100_000 });
  });

  it('deadlines refuse what is not a positive whole number of ms, quoting the flag as typed', async () => {
    for (const flag of ['--headers-timeout', '--request-timeout']) {
      for (const bad of ['abc', '-1', '0', '1.5', '1.5e400', 'Infinity', 'NaN', '', ' ', '0x10', '10s']) {
        const read = config(flag, bad);
        await expect(read, `${flag} ${bad}`).rejects.toBeInstanceOf(UsageError);
        await expect(read, `${flag} ${bad}`).rejects.toThrow(
          `${flag} must be a positive integer (ms), got ${bad}`,
        );
      }
    }
  });

  it('--metrics-listen takes host:port, [v6]:port or a port', async () => {
    expect((await config()).metricsListen).toBeUndefined();
    expect((await config('--metrics-listen', '9090')).metricsListen).toEqual({
      host: '127.0.0.1',
      port: 9090,
    });
    expect((await config('--metrics-listen', '10.0.0.1:9090')).metricsListen).toEqual({
      host: '10.0.0.1',
      port: 9090,
    });
    expect((await config('--metrics-listen', '[::1]:0')).metricsListen).toEqual({ host: '::1', port: 0 });
    for (const bad of ['', 'x', ':9090', 'host:', 'host:99999', '::1:9090']) {
      await expect(config('--metrics-listen', bad), bad).rejects.toBeInstanceOf(UsageError);
    }
  });

  it('--cors origins are kept as browsers send them; * stands alone', async () => {
    expect((await config('--cors', 'https://App.Example.com/, http://localhost:3000')).origins).toEqual([
      'https://app.example.com',
      'http://localhost:3000',
    ]);
    expect((await config('--cors', '*')).origins).toEqual(['*']);
    for (const bad of ['*,https://a.example', 'https://a.example/path', 'app.example.com', 'file:///x']) {
      await expect(config('--cors', bad), bad).rejects.toBeInstanceOf(UsageError);
    }
  });

  it('refuses a short JWT secret, two secrets, 0 workers, a port past 65535 and an argument', async () => {
    const refusals: [string[], string][] = [
      [['--jwt-secret', 's'.repeat(31)], 'the JWT secret must be at least 32 characters'],
      [['--jwt-secret', 's'.repeat(32), '--jwt-key-file', '/nonexistent'], 'not both'],
      [['--workers', '0'], '--workers must be a whole number from 1 to 256'],
      [['--port', '65536'], '--port must be a whole number from 0 to 65535'],
      [['8080'], 'serve takes no arguments, got 8080'],
    ];
    for (const [argv, message] of refusals) {
      const read = config(...argv);
      await expect(read, argv.join(' ')).rejects.toBeInstanceOf(UsageError);
      await expect(read, argv.join(' ')).rejects.toThrow(message);
    }
    expect((await config('--jwt-secret', 's'.repeat(32))).secret).toBe('s'.repeat(32));
  });

  it("--jwt-key-file reads the secret without the file's trailing newline", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssekit-key-'));
    try {
      const file = join(dir, 'key');
      await writeFile(file, `${'k'.repeat(40)}\n`);
      expect((await config('--jwt-key-file', file)).secret).toBe('k'.repeat(40));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--help wins over everything else', async () => {
    expect(await readServeConfig(['--port', 'nope', '--help'])).toBe('help');
  });
});
