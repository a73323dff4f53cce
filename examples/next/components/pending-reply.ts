/**
 * The reply in progress, kept in sessionStorage so that a reload can resume it: its URL (the
 * POST's `Content-Location`), the id of the last event shown, and the transcript up to that
 * event. The text and the id are written together, in one item, after every event: a reload
 * between two events resumes after exactly the events on screen, so none is shown twice or
 * skipped. Browser-only; sessionStorage is per tab and survives a reload, not a closed tab.
 */

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface PendingReply {
  /** Where the reply lives: GET resumes it, DELETE stops it. */
  url: string;
  /** The id of the last event shown: `Last-Event-ID` of the resuming GET. */
  lastEventId: string;
  /** The conversation before the reply. */
  turns: Turn[];
  /** The reply's text so far. */
  content: string;
  /** Events shown so far. */
  events: number;
}

const KEY = 'ssekit-example:pending-reply';

function isPendingReply(value: unknown): value is PendingReply {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Record<keyof PendingReply, unknown>>;
  return (
    typeof v.url === 'string' &&
    v.url.startsWith('/api/replies/') &&
    typeof v.lastEventId === 'string' &&
    Array.isArray(v.turns) &&
    typeof v.content === 'string' &&
    typeof v.events === 'number'
  );
}

/** The reply a previous page of this tab left running, if any. */
export function loadPending(): PendingReply | undefined {
  try {
    const stored: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    return isPendingReply(stored) ? stored : undefined;
  } catch {
    // Storage disabled or an unreadable item: nothing to resume.
    return undefined;
  }
}

export function savePending(reply: PendingReply): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(reply));
  } catch {
    // Storage full or disabled: the reply still streams, only a reload cannot resume it.
  }
}

/** The reply ended (or cannot be resumed): a reload starts afresh. */
export function clearPending(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {}
}

/** The reply's id: the last segment of its URL. */
export function replyIdOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
