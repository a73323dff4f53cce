/**
 * One rule for every numeric option of the server, hub, replies and adapters (internal): an
 * integer unless `fraction`, at least 1 (`min: 0` allows zero; `fraction` with `min: 1` means
 * more than 0), and `Infinity` only where `unbounded` lets it mean "no bound". Returns the value;
 * a `RangeError` that names the option, the rule and what it got otherwise.
 */
export function checkNumber(
  name: string,
  value: unknown,
  rule: { min?: 0 | 1; fraction?: boolean; unbounded?: boolean } = {},
): number {
  const { min = 1, fraction = false, unbounded = false } = rule;
  const ok =
    typeof value === 'number' &&
    (value === Number.POSITIVE_INFINITY
      ? unbounded
      : fraction
        ? Number.isFinite(value) && (min === 0 ? value >= 0 : value > 0)
        : Number.isSafeInteger(value) && value >= min);
  if (!ok) {
    const kind = `${min === 0 ? 'a non-negative' : 'a positive'} ${fraction ? 'number' : 'integer'}`;
    throw new RangeError(`${name} must be ${kind}${unbounded ? ' or Infinity' : ''}, got ${String(value)}`);
  }
  return value as number;
}

/**
 * The `Retry-After` value (RFC 9110 §10.2.3, delay-seconds) for a delay of `ms` milliseconds:
 * options are in ms, the header counts whole seconds, so it is rounded up (a client is never
 * told to come back sooner than asked). Internal: the hub and replies write it.
 */
export function retryAfterHeader(ms: number): string {
  return String(Math.ceil(ms / 1000));
}
