import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  BodyError,
  ClientError,
  ContentTypeError,
  HttpError,
  IdleTimeoutError,
  isBodyError,
  isClientError,
  isContentTypeError,
  isHttpError,
  isIdleTimeoutError,
  isNetworkError,
  isStreamEndError,
  NetworkError,
  StreamEndError,
} from '../../src/client/index.js';
import { isShareLagError, ShareLagError } from '../../src/client/share.js';

const cases = [
  [
    new HttpError(new Response(null, { status: 503 }), 'GET', 'http://x/', 'busy', 2000),
    HttpError,
    isHttpError,
    'HttpError',
  ],
  [new ContentTypeError('text/html'), ContentTypeError, isContentTypeError, 'ContentTypeError'],
  [
    new NetworkError('x', { cause: new TypeError('fetch failed') }),
    NetworkError,
    isNetworkError,
    'NetworkError',
  ],
  [new IdleTimeoutError('x'), IdleTimeoutError, isIdleTimeoutError, 'IdleTimeoutError'],
  [new StreamEndError('x'), StreamEndError, isStreamEndError, 'StreamEndError'],
  [new BodyError('x'), BodyError, isBodyError, 'BodyError'],
  [new ShareLagError('x'), ShareLagError, isShareLagError, 'ShareLagError'],
] as const;

describe('client errors', () => {
  it.each(cases)(
    '%s has a literal name, its class, the base class and its guard',
    (error, Class, guard, name) => {
      expect(error).toBeInstanceOf(Class);
      expect(error).toBeInstanceOf(ClientError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(guard(error)).toBe(true);
      expect(isClientError(error)).toBe(true);
      for (const [other, , otherGuard] of cases) if (other !== error) expect(otherGuard(error)).toBe(false);
    },
  );

  it('keeps status, status text, URL, method, response, body excerpt, Retry-After, content type and cause', () => {
    const response = new Response(null, {
      status: 429,
      statusText: 'Too Many Requests',
      headers: { 'retry-after': '5' },
    });
    const http = new HttpError(response, 'POST', 'https://api.example/chat', 'slow down', 5000);
    expect([http.status, http.statusText, http.url, http.method, http.body, http.retryAfter]).toEqual([
      429,
      'Too Many Requests',
      'https://api.example/chat',
      'POST',
      'slow down',
      5000,
    ]);
    expect(http.response).toBe(response);
    expect(http.message).toBe('HTTP 429 Too Many Requests: POST https://api.example/chat');
    // HTTP/2 sends no status text: no dangling space.
    expect(new HttpError(new Response(null, { status: 502 }), 'GET', 'https://x/').message).toBe(
      'HTTP 502: GET https://x/',
    );
    expect(new ContentTypeError(null).contentType).toBeNull();
    const cause = new TypeError('fetch failed');
    expect(new NetworkError('x', { cause }).cause).toBe(cause);
  });

  it('guards work across realms and refuse look-alikes', () => {
    const foreign = runInNewContext('const e = new Error("x"); e.name = "HttpError"; e');
    expect(foreign instanceof HttpError).toBe(false);
    expect(isHttpError(foreign)).toBe(true);
    expect(isClientError(foreign)).toBe(true);
    for (const value of [null, undefined, 'HttpError', 42, { name: 'TypeError' }]) {
      expect(isClientError(value)).toBe(false);
    }
  });
});
