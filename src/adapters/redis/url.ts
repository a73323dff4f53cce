/** `url` without its password (`redis://user:***@host:port/db`), for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Never the text itself: an unparsable URL may still hold a password.
    return '(an unparsable URL)';
  }
}
