import { describe, expect, it } from 'vitest';
import { isRequestBodyError, readBody, readBodyText } from '../../src/server/index.js';

const encoder = new TextEncoder();

/** A streamed body that records how many chunks were pulled from it. */
function streamed(chunks: number, size: number) {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === chunks) return controller.close();
      pulled++;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
  return {
    request: new Request('http://h/', { method: 'POST', body, duplex: 'half' } as RequestInit),
    pulled: () => pulled,
  };
}

describe('readBody', () => {
  it('returns the bytes of a body within the bound, and an empty array for none', async () => {
    const request = new Request('http://h/', { method: 'POST', body: 'héllo' });
    expect(await readBody(request, { maxBytes: 6 })).toEqual(encoder.encode('héllo'));
    expect(await readBody(new Request('http://h/'))).toEqual(new Uint8Array(0));
  });

  it('refuses a Content-Length over the bound before reading anything', async () => {
    const { request, pulled } = streamed(100, 1024);
    const declared = new Request(request, { headers: { 'content-length': String(100 * 1024) } });
    await expect(readBody(declared, { maxBytes: 50_000 })).rejects.toSatisfy(
      (e) => isRequestBodyError(e) && e.type === 'too-large',
    );
    // Reading up to the bound would pull ~49 chunks; the Request's own wrapper may pull ahead one
    // or two, nothing more.
    expect(pulled()).toBeLessThanOrEqual(2);
  });

  it('takes a body of exactly maxBytes, declared by Content-Length or not', async () => {
    const declared = new Request('http://h/', {
      method: 'POST',
      body: 'abcd',
      headers: { 'content-length': '4' },
    });
    expect(await readBody(declared, { maxBytes: 4 })).toEqual(encoder.encode('abcd'));
    const { request } = streamed(4, 1024);
    expect((await readBody(request, { maxBytes: 4096 })).byteLength).toBe(4096);
  });

  it('refuses a maxBytes that is not a bound (NaN would let any body through) with a RangeError', async () => {
    for (const maxBytes of [Number.NaN, -1, 1.5, '10' as unknown as number]) {
      const { request, pulled } = streamed(1000, 1024);
      await expect(readBody(request, { maxBytes })).rejects.toThrow(RangeError);
      expect(pulled()).toBeLessThanOrEqual(2);
    }
    expect(
      (
        await readBody(new Request('http://h/', { method: 'POST', body: 'x' }), {
          maxBytes: Number.POSITIVE_INFINITY,
        })
      ).byteLength,
    ).toBe(1);
  });

  it('stops reading at the first chunk past the bound (a chunked or lying body)', async () => {
    const { request, pulled } = streamed(1000, 1024);
    await expect(readBody(request, { maxBytes: 4096 })).rejects.toSatisfy(
      (e) => isRequestBodyError(e) && e.type === 'too-large',
    );
    expect(pulled()).toBeLessThan(10);
  });

  it('readBodyText refuses malformed UTF-8 instead of replacing it', async () => {
    const bad = new Request('http://h/', { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    await expect(readBodyText(bad)).rejects.toSatisfy(
      (e) => isRequestBodyError(e) && e.type === 'invalid-utf8',
    );
    expect(await readBodyText(new Request('http://h/', { method: 'POST', body: '{"a":1}' }))).toBe('{"a":1}');
  });

  it('reports a body that fails mid-read as unreadable, with the cause', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"a"'));
        controller.error(new Error('socket reset'));
      },
    });
    const request = new Request('http://h/', { method: 'POST', body, duplex: 'half' } as RequestInit);
    await expect(readBody(request)).rejects.toSatisfy(
      (e) =>
        isRequestBodyError(e) && e.type === 'unreadable' && (e.cause as Error).message === 'socket reset',
    );
  });
});
