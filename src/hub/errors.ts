/**
 * Typed errors of the hub layer. Each class has a literal `name`, so the `is...` guards work
 * across realms (an error from another frame or a worker fails `instanceof`, not a name check).
 */
import { hasName } from '../protocol/errors.js';

type HubErrorName = 'HubError' | 'HubInputError' | 'HubClosedError' | 'BrokerError';

/** Base class of every error the hub layer raises. */
export class HubError extends Error {
  override name: HubErrorName = 'HubError';
}

/** What about a publish or subscribe request was refused. */
export type HubInputErrorType =
  | 'no-topics'
  | 'invalid-topic'
  | 'too-many-topics'
  | 'invalid-event'
  | 'invalid-body'
  | 'body-too-large';

/** A publish or subscribe request the hub will not serve as given. */
export class HubInputError extends HubError {
  override name = 'HubInputError' as const;
  readonly type: HubInputErrorType;
  constructor(type: HubInputErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** The hub (or its broker) is shutting down or shut down and takes no more work. */
export class HubClosedError extends HubError {
  override name = 'HubClosedError' as const;
}

/** What a broker failed to do. */
export type BrokerErrorType =
  | 'closed'
  | 'unreachable'
  | 'publish-failed'
  | 'history-failed'
  | 'feed-failed'
  | 'claim-failed';

/** A broker operation failed; the broker's own error, if any, is the `cause`. */
export class BrokerError extends HubError {
  override name = 'BrokerError' as const;
  readonly type: BrokerErrorType;
  constructor(type: BrokerErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** True for any error raised by the hub layer, from any realm. */
export function isHubError(value: unknown): value is HubError {
  return hasName(value, ['HubError', 'HubInputError', 'HubClosedError', 'BrokerError']);
}

/** True for a {@link HubInputError}, from any realm. */
export function isHubInputError(value: unknown): value is HubInputError {
  return hasName(value, ['HubInputError']);
}

/** True for a {@link HubClosedError}, from any realm. */
export function isHubClosedError(value: unknown): value is HubClosedError {
  return hasName(value, ['HubClosedError']);
}

/** True for a {@link BrokerError}, from any realm. */
export function isBrokerError(value: unknown): value is BrokerError {
  return hasName(value, ['BrokerError']);
}
