/** Placeholder until the hosts module lands (replaced on merge). */
export function hostAllowed(host: string | null, allowed: readonly string[]): boolean {
  if (allowed.includes('*')) return true;
  if (host === null) return false;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return allowed.some((a) => a.toLowerCase() === name);
}
export function originAllowed(
  origin: string | null,
  host: string | null,
  allowed: readonly string[],
): boolean {
  if (origin === null) return true;
  if (allowed.includes(origin)) return true;
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}
