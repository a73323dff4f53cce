import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub, type Hub, jwtAuthorizer, topicAllowed } from '../../src/hub/index.js';
import { readAll, readEvents } from './helpers.js';

const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');
const otherSecret = new TextEncoder().encode('another-secret-of-at-least-32-bytes!');

async function token(
  claims: { subscribe?: string[]; publish?: string[] } | undefined,
  options: { key?: Uint8Array; exp?: string | number; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims === undefined ? {} : { ssekit: claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setSubject('user-1')
    .setIssuedAt();
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  return jwt.sign(options.key ?? secret);
}

const hubs: Hub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close({ timeout: 100 })));
});
function jwtHub(): Hub {
  const hub = createHub({
    heartbeat: false,
    authorize: jwtAuthorizer({ key: secret, algorithms: ['HS256'] }),
  });
  hubs.push(hub);
  return hub;
}

const get = (query: string, headers: Record<string, string> = {}) =>
  new Request(`http://h/?${query}`, { headers });
const post = (body: unknown, headers: Record<string, string> = {}) =>
  new Request('http://h/', {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('JWT authorization: subscribe', () => {
  it('answers 401 without a token, with a bad signature, an expired token, or an unexpected alg', async () => {
    const hub = jwtHub();
    const expectRefused = async (headers: Record<string, string>, status: number) => {
      const res = await hub.handler(get('topic=a', headers));
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).not.toContain('event-stream');
    };
    await expectRefused({}, 401);
    await expectRefused(bearer('not.a.jwt'), 401);
    await expectRefused(bearer(await token({ subscribe: ['a'] }, { key: otherSecret })), 401);
    await expectRefused(
      bearer(await token({ subscribe: ['a'] }, { exp: Math.floor(Date.now() / 1000) - 60 })),
      401,
    );
    await expectRefused(bearer(await token({ subscribe: ['a'] }, { alg: 'HS512' })), 401);
    const unsigned = `${btoa(JSON.stringify({ alg: 'none' }))}.${btoa(JSON.stringify({ ssekit: { subscribe: ['*'] } }))}.`;
    await expectRefused(bearer(unsigned), 401);
    expect(hub.metrics().rejected[401]).toBe(6);
  });

  it('answers 403 for any topic outside the claim, and streams when all are inside', async () => {
    const hub = jwtHub();
    const t = await token({ subscribe: ['a', 'chat/*'], publish: ['b'] });
    expect((await hub.handler(get('topic=b', bearer(t)))).status).toBe(403);
    expect((await hub.handler(get('topic=a&topic=b', bearer(t)))).status).toBe(403);
    expect((await hub.handler(get('topic=chat', bearer(t)))).status).toBe(403);
    expect((await hub.handler(get('topic=a', bearer(await token(undefined))))).status).toBe(403);
    const ok = await hub.handler(get('topic=a&topic=chat/42', bearer(t)));
    expect(ok.status).toBe(200);
    const id = await hub.publish('chat/42', 'hi');
    expect((await readEvents(ok, 1)).events[0]?.id).toBe(id);
  });

  it('takes the token from a cookie, and from the query only when enabled', async () => {
    const hub = jwtHub();
    const t = await token({ subscribe: ['a'] });
    expect((await hub.handler(get('topic=a', { cookie: `x=1; ssekit_token=${t}` }))).status).toBe(200);
    expect((await hub.handler(get(`topic=a&access_token=${t}`))).status).toBe(401);
    const queryHub = createHub({
      heartbeat: false,
      authorize: jwtAuthorizer({ key: secret, algorithms: ['HS256'], queryParam: 'access_token' }),
    });
    hubs.push(queryHub);
    expect((await queryHub.handler(get(`topic=a&access_token=${t}`))).status).toBe(200);
  });

  it('an Authorization header that is not a Bearer token is final: the cookie is not read instead', async () => {
    const hub = jwtHub();
    const t = await token({ subscribe: ['a'], publish: ['a'] });
    const cookie = `ssekit_token=${t}`;
    expect((await hub.handler(get('topic=a', { cookie, authorization: 'Basic dXNlcjpwYXNz' }))).status).toBe(
      401,
    );
    expect((await hub.handler(get('topic=a', { cookie, authorization: 'Bearer' }))).status).toBe(401);
    // The CSRF check lets a publish with Authorization through (a page cannot send one cross-site
    // without a preflight); the cookie beside it must not then authenticate it.
    const crossSite = {
      cookie,
      authorization: 'Basic dXNlcjpwYXNz',
      origin: 'https://evil.example',
      host: 'h',
    };
    expect((await hub.handler(post({ topic: 'a', data: 'x' }, crossSite))).status).toBe(401);
    expect(hub.metrics().eventsPublished).toBe(0);
  });

  it('verifies asymmetric tokens (ES256) too', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    expect((await exportJWK(publicKey)).kty).toBe('EC');
    const hub = createHub({
      heartbeat: false,
      authorize: jwtAuthorizer({ key: publicKey, algorithms: ['ES256'] }),
    });
    hubs.push(hub);
    const t = await new SignJWT({ ssekit: { subscribe: ['a'] } })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(privateKey);
    expect((await hub.handler(get('topic=a', bearer(t)))).status).toBe(200);
    expect((await hub.handler(get('topic=a', bearer(await token({ subscribe: ['a'] }))))).status).toBe(401);
  });
});

describe('JWT authorization: publish', () => {
  it('allows publishing only on topics of the publish claim', async () => {
    const hub = jwtHub();
    const t = await token({ subscribe: ['a', 'b'], publish: ['a'] });
    expect((await hub.handler(post({ topic: 'a', data: 'x' }))).status).toBe(401);
    expect((await hub.handler(post({ topic: 'b', data: 'x' }, bearer(t)))).status).toBe(403);
    expect((await hub.handler(post({ topic: ['a', 'b'], data: 'x' }, bearer(t)))).status).toBe(403);
    const ok = await hub.handler(post({ topic: 'a', data: 'x' }, bearer(t)));
    expect(ok.status).toBe(200);
    expect(hub.metrics().eventsPublished).toBe(1);
  });
});

describe('JWT authorization: options', () => {
  it('refuses to be built without a non-empty algorithms list (no algorithm confusion by default)', () => {
    for (const algorithms of [[], undefined, 'HS256']) {
      expect(
        () => jwtAuthorizer({ key: secret, algorithms } as unknown as Parameters<typeof jwtAuthorizer>[0]),
        String(algorithms),
      ).toThrow(new TypeError('jwtAuthorizer needs a non-empty `algorithms` list'));
    }
  });

  it('checks issuer and audience when given: a token from another issuer or for another audience is 401', async () => {
    const hub = createHub({
      heartbeat: false,
      authorize: jwtAuthorizer({
        key: secret,
        algorithms: ['HS256'],
        issuer: 'https://auth.example',
        audience: 'ssekit-hub',
      }),
    });
    hubs.push(hub);
    const signed = (iss: string | undefined, aud: string | undefined) => {
      const jwt = new SignJWT({ ssekit: { subscribe: ['a'] } }).setProtectedHeader({ alg: 'HS256' });
      if (iss !== undefined) jwt.setIssuer(iss);
      if (aud !== undefined) jwt.setAudience(aud);
      return jwt.sign(secret);
    };
    const status = async (iss: string | undefined, aud: string | undefined) => {
      const res = await hub.handler(get('topic=a', bearer(await signed(iss, aud))));
      await res.body?.cancel();
      return res.status;
    };
    expect(await status('https://evil.example', 'ssekit-hub')).toBe(401);
    expect(await status(undefined, 'ssekit-hub')).toBe(401);
    expect(await status('https://auth.example', 'another-app')).toBe(401);
    expect(await status('https://auth.example', undefined)).toBe(401);
    expect(await status('https://auth.example', 'ssekit-hub')).toBe(200);
  });

  it('a claim without a list for the action is 403 for that action (a subscribe-only token cannot publish)', async () => {
    const hub = jwtHub();
    const t = await token({ subscribe: ['a'] });
    const refused = await hub.handler(post({ topic: 'a', data: 'x' }, bearer(t)));
    expect(refused.status).toBe(403);
    expect(hub.metrics().eventsPublished).toBe(0);
    const odd = await token({ subscribe: 'a' as unknown as string[] });
    expect((await hub.handler(get('topic=a', bearer(odd)))).status).toBe(403);
  });
});

describe('JWT authorization: server code', () => {
  it('trusts a call without a request (subscribe({...}) and publish() from server code)', async () => {
    const authorize = jwtAuthorizer({ key: secret, algorithms: ['HS256'] });
    expect(await authorize({ request: undefined, action: 'publish', topics: ['any'] })).toBe(true);
    expect(await authorize({ request: undefined, action: 'subscribe', topics: ['any'] })).toBe(true);
  });
});

describe('JWT authorization: replay', () => {
  it('replays only events of the topics the token allows; a refused resume sends nothing', async () => {
    const hub = jwtHub();
    const first = await hub.publish('a', 'a0');
    await hub.publish('secret', 's1');
    const both = await hub.publish(['a', 'secret'], 'a+s');
    await hub.publish('secret', 's2');
    const a1 = await hub.publish('a', 'a1');
    const t = await token({ subscribe: ['a'] });
    const refused = await hub.handler(get('topic=secret', { ...bearer(t), 'last-event-id': first }));
    expect(refused.status).toBe(403);
    expect(await refused.text()).not.toContain('s1');
    const mixed = await hub.handler(get('topic=a&topic=secret', { ...bearer(t), 'last-event-id': first }));
    expect(mixed.status).toBe(403);
    const res = await hub.handler(get('topic=a', { ...bearer(t), 'last-event-id': first }));
    expect(res.status).toBe(200);
    await hub.close();
    const { events } = await readAll(res);
    expect(events.map((e) => e.id)).toEqual([both, a1]);
    expect(events.map((e) => e.data)).toEqual(['a+s', 'a1']);
  });
});

describe('topic patterns', () => {
  it('matches exact topics, prefixes ending in *, and * alone', () => {
    expect(topicAllowed(['a'], 'a')).toBe(true);
    expect(topicAllowed(['a'], 'ab')).toBe(false);
    expect(topicAllowed(['a/*'], 'a/b/c')).toBe(true);
    expect(topicAllowed(['a/*'], 'a')).toBe(false);
    expect(topicAllowed(['*'], 'anything')).toBe(true);
    expect(topicAllowed([42, null], 'a')).toBe(false);
  });
});

describe('custom authorize hook', () => {
  it('maps its verdicts to 401/403 and runs before any byte is sent', async () => {
    const calls: string[] = [];
    const hub = createHub({
      heartbeat: false,
      authorize: ({ action, topics, request }) => {
        calls.push(`${action}:${topics.join(',')}`);
        const who = request?.headers.get('x-user');
        if (who === undefined || who === null) return 'unauthenticated';
        return who === 'admin' || (action === 'subscribe' && topics.every((t) => t.startsWith('public/')));
      },
    });
    hubs.push(hub);
    expect((await hub.handler(get('topic=public/x'))).status).toBe(401);
    expect((await hub.handler(get('topic=private', { 'x-user': 'bob' }))).status).toBe(403);
    expect((await hub.handler(get('topic=public/x', { 'x-user': 'bob' }))).status).toBe(200);
    expect((await hub.handler(post({ topic: 'public/x', data: '' }, { 'x-user': 'bob' }))).status).toBe(403);
    expect((await hub.handler(post({ topic: 'public/x', data: '' }, { 'x-user': 'admin' }))).status).toBe(
      200,
    );
    // Server code calling subscribe/publish directly is trusted: no hook call.
    await hub.publish('private', 'x');
    expect(calls).toEqual([
      'subscribe:public/x',
      'subscribe:private',
      'subscribe:public/x',
      'publish:public/x',
      'publish:public/x',
    ]);
  });
});
