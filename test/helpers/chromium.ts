/**
 * Debian's Chromium for the browser tests, driven by playwright-core (never a downloaded
 * browser). The flags keep it off the network, which this machine closes.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * True when Chromium is installed. Without it, the caller's browser tests are skipped with a
 * visible message, unless SSEKIT_REQUIRE_SERVICES is set (CI): then a missing browser fails.
 */
export function chromiumAvailable(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.SSEKIT_REQUIRE_SERVICES) {
    throw new Error(
      `${what}: ${CHROMIUM} is missing and SSEKIT_REQUIRE_SERVICES is set (apt-get install chromium)`,
    );
  }
  console.warn(`\n*** SKIPPING ${what}: ${CHROMIUM} not found (apt-get install chromium) ***\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
