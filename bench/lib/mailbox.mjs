/**
 * The messages a forked bench child sends back, taken in order: `next()` waits for the next one,
 * `ask()` sends a message and waits for the reply. Both reject after `timeoutMs` without an
 * answer, and at once when the child has exited, so a crashed child stops the run instead of
 * hanging it. Every bench that drives servers and clients in child processes uses this one.
 *
 * @param {import('node:child_process').ChildProcess} proc
 * @param {string} name how errors name the child
 * @param {number} defaultTimeoutMs
 */
export function mailbox(proc, name, defaultTimeoutMs) {
  const queue = [];
  const waiters = [];
  let exited = null;
  proc.on('message', (m) => (waiters.length > 0 ? waiters.shift().resolve(m) : queue.push(m)));
  proc.on('exit', (code, signal) => {
    exited = new Error(`${name} exited (${code ?? signal})`);
    for (const w of waiters.splice(0)) w.reject(exited);
  });
  const next = (timeoutMs = defaultTimeoutMs) =>
    queue.length > 0
      ? Promise.resolve(queue.shift())
      : exited
        ? Promise.reject(exited)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              const i = waiters.indexOf(entry);
              if (i !== -1) waiters.splice(i, 1);
              reject(new Error(`${name}: no answer in ${timeoutMs} ms`));
            }, timeoutMs);
            const entry = {
              resolve: (m) => {
                clearTimeout(timer);
                resolve(m);
              },
              reject: (e) => {
                clearTimeout(timer);
                reject(e);
              },
            };
            waiters.push(entry);
          });
  const ask = (message, timeoutMs) => {
    proc.send(message);
    return next(timeoutMs);
  };
  return { next, ask };
}
