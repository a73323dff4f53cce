import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { NetworkError, StreamEndError } from '../../src/client/errors.js';
import { seeded, sse, startServer } from './helpers.js';

const CUTS = 100;

describe('connect: resume with Last-Event-ID', () => {
  it(`every event arrives exactly once and in order across ${CUTS} cuts`, async () => {
    const random = seeded(20250101);
    // The whole history is fixed up front: each connection serves from after Last-Event-ID.
    const plan = Array.from({ length: CUTS }, () => 1 + Math.floor(random() * 5));
    const total = plan.reduce((a, b) => a + b, 0);
    const wire = (i: number) => `id: ${i}\nevent: tick\ndata: event ${i} ✓\ndata: second line\n\n`;
    let connection = 0;
    const server = await startServer((_req, res, request) => {
      const from = request.lastEventId === undefined ? 0 : Number(request.lastEventId) + 1;
      if (from >= total) {
        res.writeHead(204);
        res.end();
        return;
      }
      const count = plan[connection]!;
      const mode = connection % 3;
      connection++;
      sse(res);
      let out = 'retry: 0\n';
      for (let i = from; i < Math.min(total, from + count); i++) out += wire(i);
      if (mode === 0) {
        res.end(out);
      } else {
        // Cut inside the next event, in the middle of its multi-byte character: the client
        // must drop the half event and get it again on the next connection.
        const next = Buffer.from(wire(from + count));
        const half = next.subarray(0, next.indexOf('✓') + 1);
        res.write(Buffer.concat([Buffer.from(out), half]), () => {
          if (mode === 1) res.end();
          else res.socket?.destroy();
        });
      }
    });
    try {
      const errors: unknown[] = [];
      const c = connect(server.url, { onError: (e) => void errors.push(e) });
      const ids: string[] = [];
      for await (const event of c) {
        expect(event.event).toBe('tick');
        expect(event.data).toBe(`event ${event.id} ✓\nsecond line`);
        ids.push(event.id);
      }
      expect(ids).toEqual(Array.from({ length: total }, (_, i) => String(i)));
      expect(connection).toBe(CUTS);
      expect(server.requests).toHaveLength(CUTS + 1);
      expect(errors).toHaveLength(CUTS);
      expect(errors.every((e) => e instanceof StreamEndError || e instanceof NetworkError)).toBe(true);
      expect(errors.some((e) => e instanceof NetworkError)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
