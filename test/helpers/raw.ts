import { connect } from 'node:net';

/** A raw TCP client, to see exactly what a server sends, and when it closes. */
export interface RawClient {
  /** Everything received so far. */
  text(): string;
  write(text: string): void;
  /** Resolves once `text()` contains `needle`; rejects if the server closes first. */
  until(needle: string): Promise<void>;
  /** 'closed' once the server has ended the connection, 'open' if it has not within `ms`. */
  closedWithin(ms: number): Promise<'closed' | 'open'>;
  readonly closed: boolean;
  destroy(): void;
}

/** Connects to 127.0.0.1:`port`. The caller destroys it (or lets the server close it). */
export function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let closed = false;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const waiter of [...waiters]) waiter();
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      wake();
    });
    socket.on('close', () => {
      closed = true;
      wake();
    });
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.off('error', reject);
      // A reset after connecting shows as `closed`; the test decides whether that is wrong.
      socket.on('error', () => {});
      resolve({
        text: () => received,
        write: (text) => void socket.write(text),
        until: (needle) =>
          new Promise<void>((done, fail) => {
            const check = () => {
              if (received.includes(needle)) {
                waiters.delete(check);
                done();
              } else if (closed) {
                waiters.delete(check);
                fail(new Error(`closed before ${JSON.stringify(needle)}: ${received}`));
              }
            };
            waiters.add(check);
            check();
          }),
        closedWithin: (ms) =>
          new Promise((done) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              done('open');
            }, ms);
            const check = () => {
              if (!closed) return;
              clearTimeout(timer);
              waiters.delete(check);
              done('closed');
            };
            waiters.add(check);
            check();
          }),
        get closed() {
          return closed;
        },
        destroy: () => socket.destroy(),
      });
    });
  });
}
