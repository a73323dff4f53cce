import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NextConfig } from 'next';

// Deliberately close to the defaults: `compress` stays on (Next's default), so the example shows
// that ssekit's headers keep a compressed server streaming, not that compression was turned off.
const nextConfig: NextConfig = {
  poweredByHeader: false,
  // The example's dependencies (next, react, ssekit's build) live in the repository root's
  // node_modules. Turbopack looks for its root at the nearest lockfile, and the repository
  // commits none, so name the root here.
  turbopack: { root: join(dirname(fileURLToPath(import.meta.url)), '../..') },
};

export default nextConfig;
