// The CommonJS side of the package (`require` conditions, `.d.cts` files), under node16.
import ssekit = require('ssekit');
import client = require('ssekit/client');

export const wire: string = ssekit.encodeEvent({ data: 'x' });
export const source = new client.EventSource('https://example.com/feed');
source.addEventListener('tick', (event) => {
  // @ts-expect-error `data` is a string
  const wrong: number = event.data;
  return wrong;
});
