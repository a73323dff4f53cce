#!/usr/bin/env node
/**
 * The `ssekit` command: `listen` (a curl for event streams), `serve` (a hub as a server) and
 * `publish` (one event to a hub, from a shell script).
 */
import { LISTEN_HELP, listen } from './listen.js';
import { PUBLISH_HELP, publish } from './publish.js';
import { SERVE_HELP, serve } from './serve.js';
import { out, UsageError, VERSION } from './shared.js';

const HELP = `ssekit ${VERSION}: Server-Sent Events from the command line

Usage:
  ssekit listen <url> [options]                  print the events of a stream
  ssekit serve [options]                         run a hub (subscribe, publish, /metrics)
  ssekit publish <hub-url> <topic> <data>        publish one event to a hub
  ssekit <command> --help                        options and examples of a command
  ssekit --version

Examples:
  ssekit serve --port 8080 &
  ssekit listen 'http://localhost:8080/?topic=news'
  ssekit publish http://localhost:8080/ news "hello"
`;

const COMMANDS: Record<string, [(argv: string[]) => Promise<number>, string]> = {
  listen: [listen, LISTEN_HELP],
  serve: [serve, SERVE_HELP],
  publish: [publish, PUBLISH_HELP],
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    await out(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    await out(`${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[command];
  if (entry === undefined) {
    process.stderr.write(`ssekit: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  try {
    return await entry[0](rest);
  } catch (error) {
    // One line: what is wrong, in our words, and where the usage is.
    // parseFlags words parseArgs' refusals itself; its code stays as a fallback.
    const code = (error as { code?: unknown }).code;
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      const [line] = (error as Error).message.split('\n');
      process.stderr.write(`ssekit ${command}: ${line} (see ssekit ${command} --help)\n`);
      return 2;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ssekit: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 70;
  },
);
