/** The command line of a bench: `args` (after the script), and `option()` to read `--flag value`. */
export const args = process.argv.slice(2);

/** The value after `flag` on the command line, or `fallback` when the flag is not there. */
export function option(flag, fallback) {
  const i = args.indexOf(flag);
  return i === -1 ? fallback : args[i + 1];
}
