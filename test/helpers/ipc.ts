import { EventEmitter } from 'node:events';
import type { IpcChannel } from '../../src/adapters/node/index.js';

/** Two ends of an IPC-like channel: messages are JSON-copied and delivered asynchronously, in order. */
export function channelPair(): [IpcChannel, IpcChannel] {
  const a = new EventEmitter();
  const b = new EventEmitter();
  const end = (self: EventEmitter, other: EventEmitter): IpcChannel => ({
    send(message) {
      const copy = JSON.parse(JSON.stringify(message));
      setImmediate(() => other.emit('message', copy));
      return true;
    },
    on: (event, listener) => self.on(event, listener),
    off: (event, listener) => self.off(event, listener),
  });
  return [end(a, b), end(b, a)];
}
