import { describe, expect, it } from 'vitest';
import { hostAllowed, hostnameOf, isLoopbackHostname, originAllowed } from '../../src/hub/hosts.js';

describe('hostnameOf', () => {
  it('strips the port, lowercases, unbrackets IPv6 and canonicalizes IPv4 shorthand', () => {
    expect(hostnameOf('LocalHost:8080')).toBe('localhost');
    expect(hostnameOf('hub.example.com')).toBe('hub.example.com');
    expect(hostnameOf('hub.example.com.')).toBe('hub.example.com');
    expect(hostnameOf('[::1]:8080')).toBe('::1');
    expect(hostnameOf('[0:0:0:0:0:0:0:1]')).toBe('::1');
    expect(hostnameOf('127.0.0.1:80')).toBe('127.0.0.1');
    expect(hostnameOf('127.1')).toBe('127.0.0.1');
    expect(hostnameOf('0x7f.0.0.1')).toBe('127.0.0.1');
    expect(hostnameOf('my_host:1')).toBe('my_host');
  });

  it('refuses what is not a host', () => {
    for (const junk of [
      '',
      ':8080',
      ' localhost',
      'localhost ',
      'a b',
      'user@localhost',
      'localhost/x',
      'localhost?x',
      'localhost#x',
      'localhost:',
      'localhost:x',
      'localhost:65536',
      'localhost:8080:1',
      '::1',
      '[::1',
      '[::1]x',
      '[::1]:',
      '[not-v6]',
      '[fe80::1%25eth0]',
      'a%2eb',
      'ex\u00e4mple.com',
      '1.2.3.4.5',
      `${'a'.repeat(300)}.com`,
    ]) {
      expect(hostnameOf(junk), JSON.stringify(junk)).toBeUndefined();
    }
  });
});

describe('isLoopbackHostname', () => {
  it('knows localhost, *.localhost, 127.0.0.0/8 and ::1', () => {
    for (const name of [
      'localhost',
      'LOCALHOST',
      'localhost.',
      'app.localhost',
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:2',
    ]) {
      expect(isLoopbackHostname(name), name).toBe(true);
    }
    for (const name of [
      'evil.example',
      'localhost.evil.example',
      'notlocalhost',
      '128.0.0.1',
      '10.0.0.1',
      '0.0.0.0',
      '127.0.0',
      '127.0.0.256',
      '::',
      '::2',
      '::ffff:10.0.0.1',
      '',
    ]) {
      expect(isLoopbackHostname(name), name).toBe(false);
    }
  });
});

describe('hostAllowed', () => {
  it('matches hostnames without case or port; a leading dot takes the domain and its subdomains', () => {
    const allowed = ['Hub.Example.com', '.apps.example.org', '127.0.0.1', '[::1]'];
    expect(hostAllowed('hub.example.com', allowed)).toBe(true);
    expect(hostAllowed('HUB.example.com:8443', allowed)).toBe(true);
    expect(hostAllowed('apps.example.org', allowed)).toBe(true);
    expect(hostAllowed('a.b.apps.example.org:1', allowed)).toBe(true);
    expect(hostAllowed('127.0.0.1:8080', allowed)).toBe(true);
    expect(hostAllowed('[::1]:8080', allowed)).toBe(true);

    expect(hostAllowed('evil.example', allowed)).toBe(false);
    expect(hostAllowed('sub.hub.example.com', allowed)).toBe(false);
    expect(hostAllowed('evilapps.example.org', allowed)).toBe(false);
    expect(hostAllowed('hub.example.com.evil.example', allowed)).toBe(false);
    expect(hostAllowed('127.0.0.2', allowed)).toBe(false);
    expect(hostAllowed('hub.example.com/x', allowed)).toBe(false);
    expect(hostAllowed(null, allowed)).toBe(false);
    expect(hostAllowed('hub.example.com', [])).toBe(false);
  });

  it('* allows any host, a missing one included; a bad entry matches nothing', () => {
    expect(hostAllowed('evil.example', ['*'])).toBe(true);
    expect(hostAllowed(null, ['*'])).toBe(true);
    expect(hostAllowed('a', ['a b', 'x/y'])).toBe(false);
  });
});

describe('originAllowed', () => {
  it('allows the same origin by host and port, and listed origins', () => {
    expect(originAllowed('http://localhost:8080', 'localhost:8080', [])).toBe(true);
    expect(originAllowed('https://hub.example.com', 'hub.example.com', [])).toBe(true);
    expect(originAllowed('https://hub.example.com', 'hub.example.com:443', [])).toBe(true);
    expect(originAllowed('http://[::1]:9', '[::1]:9', [])).toBe(true);
    const listed = ['https://app.example.com', 'HTTP://LOCALHOST:3000/'];
    expect(originAllowed('https://app.example.com', 'hub.example.com', listed)).toBe(true);
    expect(originAllowed('https://app.example.com:443', 'hub.example.com', listed)).toBe(true);
    expect(originAllowed('http://localhost:3000', 'localhost:8080', listed)).toBe(true);
  });

  it('refuses other origins, another port of the same host, the opaque origin and *', () => {
    const listed = ['https://app.example.com'];
    expect(originAllowed('https://evil.example', 'hub.example.com', listed)).toBe(false);
    expect(originAllowed('http://app.example.com', 'hub.example.com', listed)).toBe(false);
    expect(originAllowed('https://app.example.com:8443', 'hub.example.com', listed)).toBe(false);
    expect(originAllowed('http://localhost:3000', 'localhost:8080', [])).toBe(false);
    expect(originAllowed('null', 'localhost:8080', ['null', '*'])).toBe(false);
    expect(originAllowed('https://evil.example', 'hub.example.com', ['*'])).toBe(false);
    expect(originAllowed('https://evil.example/path', 'evil.example', [])).toBe(false);
    expect(originAllowed('garbage', 'hub.example.com', ['garbage'])).toBe(false);
    expect(originAllowed('https://hub.example.com', null, [])).toBe(false);
  });

  it('refuses an origin whose host is malformed, and ignores such a listed entry, without throwing', () => {
    expect(originAllowed('http://bad host', 'hub.example.com', ['http://bad host'])).toBe(false);
    expect(originAllowed('http://localhost:99999', 'localhost:99999', [])).toBe(false);
    expect(
      originAllowed('https://app.example.com', 'hub.example.com', [
        'http://bad host',
        'https://app.example.com',
      ]),
    ).toBe(true);
  });

  it('keeps a listed IPv6 origin apart from another address that reads the same without brackets', () => {
    const listed = ['http://[::1]:3000'];
    expect(originAllowed('http://[::1]:3000', 'hub.example.com', listed)).toBe(true);
    expect(originAllowed('http://[0:0:0:0:0:0:0:1]:3000', 'hub.example.com', listed)).toBe(true);
    // ::1:3000 is another address (0:0:0:0:0:0:1:3000) on the default port.
    expect(originAllowed('http://[::1:3000]', 'hub.example.com', listed)).toBe(false);
  });

  it('a request without Origin is not a cross-origin browser request', () => {
    expect(originAllowed(null, 'hub.example.com', [])).toBe(true);
  });
});
