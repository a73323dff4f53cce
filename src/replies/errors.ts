/**
 * Typed errors of the replies layer. Each class has a literal `name`, so the `is...` guards work
 * across realms (an error from another frame or a worker fails `instanceof`, not a name check).
 */
import { hasName } from '../protocol/errors.js';
import type { EndReason } from './log.js';

type RepliesErrorName = 'RepliesError' | 'ReplyInputError' | 'ReplyStoppedError';

/** Base class of every error the replies layer raises. */
export class RepliesError extends Error {
  override name: RepliesErrorName = 'RepliesError';
}

/** What about an event a producer sent was refused. */
export type ReplyInputErrorType = 'invalid-event' | 'reserved-event';

/**
 * A producer sent an event the log will not take: not a string or `{ event?, data }`, a field the
 * encoder refuses (CR or LF in `event`), or the reserved type `end` (the log's own last event).
 * Thrown synchronously by `send`: a bug in the producer, which then ends the reply as `failed`.
 */
export class ReplyInputError extends RepliesError {
  override name = 'ReplyInputError' as const;
  readonly type: ReplyInputErrorType;
  constructor(type: ReplyInputErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/**
 * The reason of a producer's `signal` once the reply ends before the producer did: `reason` says
 * why (`stopped` by DELETE or `stop()`, `too-large`, `idle`, `shutdown`, `producer-lost` when
 * another instance gave up on this one, or `failed` when the broker could not keep the reply:
 * unreachable past its timeout, or a Redis restarted without its data).
 */
export class ReplyStoppedError extends RepliesError {
  override name = 'ReplyStoppedError' as const;
  readonly reason: EndReason;
  constructor(reason: EndReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** True for any error raised by the replies layer, from any realm. */
export function isRepliesError(value: unknown): value is RepliesError {
  return hasName(value, ['RepliesError', 'ReplyInputError', 'ReplyStoppedError']);
}

/** True for a {@link ReplyInputError}, from any realm. */
export function isReplyInputError(value: unknown): value is ReplyInputError {
  return hasName(value, ['ReplyInputError']);
}

/** True for a {@link ReplyStoppedError}, from any realm. */
export function isReplyStoppedError(value: unknown): value is ReplyStoppedError {
  return hasName(value, ['ReplyStoppedError']);
}
