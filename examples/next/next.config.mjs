import { fileURLToPath } from 'node:url';

/** @type {import('next').NextConfig} */
const config = {
  // Compression stays on (the default, written out): the point of this example is that the
  // events still stream through it.
  compress: true,
  poweredByHeader: false,
  // The repository root holds node_modules and the built ssekit (dist/) this example imports.
  turbopack: { root: fileURLToPath(new URL('../..', import.meta.url)) },
};

export default config;
