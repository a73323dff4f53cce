import { execFileSync } from 'node:child_process';

// The CLI and browser tests run the real build (dist/cli.js, the demo on dist/): build once.
export default function setup(): void {
  if (process.env.SSEKIT_SKIP_BUILD) return;
  execFileSync(process.execPath, ['node_modules/tsup/dist/cli-default.js', '--silent'], { stdio: 'inherit' });
}
