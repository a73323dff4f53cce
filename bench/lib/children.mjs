// The child processes of a bench run, killed on every way out: a normal exit, Ctrl-C, SIGTERM,
// and a deadline after which the run stops itself (load loops in this repo always end).
import { fork } from 'node:child_process';

/**
 * @param {string} name the bench, for the deadline's message
 * @param {number} deadlineMs the run stops (exit 1) after this long
 * @param {() => NodeJS.Signals} [killSignal] how to stop a child still running (default SIGKILL)
 */
export function supervise(name, deadlineMs, killSignal = () => 'SIGKILL') {
  /** @type {import('node:child_process').ChildProcess[]} */
  const children = [];
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(killSignal());
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  setTimeout(() => {
    console.error(`${name}: not done after ${deadlineMs / 1000} s; stopping`);
    killAll();
    process.exit(1);
  }, deadlineMs).unref();
  return {
    /** Every child so far (push one started otherwise, e.g. a redis-server, to have it killed too). */
    children,
    /** Kills every child still running. */
    killAll,
    /** `fork`, with the child killed with the others. */
    fork(path, argv, options) {
      const proc = fork(path, argv, options);
      children.push(proc);
      return proc;
    },
  };
}
