import { describe, expect, it } from 'vitest';
import { createParser } from '../../src/protocol/parse.js';
import type { ServerSentEvent } from '../../src/protocol/types.js';

describe('parser reset({ lastEventId })', () => {
  it('seeds the new stream with the carried-over id until an id field changes it', () => {
    const events: ServerSentEvent[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    parser.feed('id: 5\ndata: a\n\ndata: cut');
    expect(parser.lastEventId).toBe('5');
    parser.reset({ lastEventId: parser.lastEventId });
    expect(parser.lastEventId).toBe('5');
    // The cut line of the old stream is gone; events without id keep '5'; `id` empties it.
    parser.feed('data: b\n\nid\ndata: c\n\n');
    expect(events).toEqual([
      { event: 'message', data: 'a', id: '5' },
      { event: 'message', data: 'b', id: '5' },
      { event: 'message', data: 'c', id: '' },
    ]);
  });

  it('without options starts from the empty id, as before', () => {
    const parser = createParser({});
    parser.feed('id: 7\n\n');
    parser.reset();
    expect(parser.lastEventId).toBe('');
  });

  it('reads lastEventId through a getter on the prototype (an object literal with a getter is a slow dictionary in V8), with feed and reset working taken off the parser', () => {
    const events: ServerSentEvent[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    expect(Object.getOwnPropertyDescriptor(parser, 'lastEventId')).toBeUndefined();
    expect(typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(parser), 'lastEventId')?.get).toBe(
      'function',
    );
    const { feed, reset } = parser;
    feed(new TextEncoder().encode('id: 9\ndata: x\n\n'));
    expect(parser.lastEventId).toBe('9');
    reset({ lastEventId: '3' });
    expect(parser.lastEventId).toBe('3');
    feed('data: y\n\n');
    expect(events.map((e) => e.id)).toEqual(['9', '3']);
  });
});
