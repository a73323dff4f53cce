import type { NextConfig } from 'next';

// Deliberately close to the defaults: `compress` stays on (Next's default), so the example shows
// that ssekit's headers keep a compressed server streaming, not that compression was turned off.
const nextConfig: NextConfig = {
  poweredByHeader: false,
};

export default nextConfig;
