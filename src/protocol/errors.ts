/**
 * Typed errors of the protocol layer. Each class has a literal `name`, so the `is...` guards work
 * across realms (an error from another frame or a worker fails `instanceof`, not a name check).
 */

/** Base class of every error the protocol layer raises. */
export class ProtocolError extends Error {
  override name: 'ProtocolError' | 'ParseError' | 'EncodeError' = 'ProtocolError';
}

/**
 * What went wrong while parsing an event stream: a line or event longer than `maxBufferSize`
 * (the literal eventsource-parser uses for the same case, so checks written for it carry over).
 */
export type ParseErrorType = 'max-buffer-size-exceeded';

/** The parser met input it will not hold: see {@link ParseErrorType}. */
export class ParseError extends ProtocolError {
  override name = 'ParseError' as const;
  // `declare`: assigned in the constructor, not emitted as a class field as well.
  declare readonly type: ParseErrorType;
  constructor(type: ParseErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/** What about an outgoing event was refused. */
export type EncodeErrorType = 'invalid-event' | 'invalid-id' | 'invalid-retry' | 'invalid-field';

/** The encoder refused an event that would have corrupted or forged fields on the wire. */
export class EncodeError extends ProtocolError {
  override name = 'EncodeError' as const;
  readonly type: EncodeErrorType;
  constructor(type: EncodeErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.type = type;
  }
}

/**
 * True when `value` is an object whose `name` is one of `names`. Shared by every layer's `is...`
 * guards (internal: not exported from the package root).
 */
export function hasName(value: unknown, names: readonly string[]): boolean {
  return typeof value === 'object' && value !== null && names.includes((value as Error).name);
}

/** True for any error raised by the protocol layer, from any realm. */
export function isProtocolError(value: unknown): value is ProtocolError {
  return hasName(value, ['ProtocolError', 'ParseError', 'EncodeError']);
}

/** True for a {@link ParseError}, from any realm. */
export function isParseError(value: unknown): value is ParseError {
  return hasName(value, ['ParseError']);
}

/** True for an {@link EncodeError}, from any realm. */
export function isEncodeError(value: unknown): value is EncodeError {
  return hasName(value, ['EncodeError']);
}
