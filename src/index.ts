/**
 * `ssekit`: the protocol layer. A spec-exact, incremental `text/event-stream` parser and an
 * encoder that refuses field injection. Pure functions, no I/O: runs in every runtime.
 */

export { encodeEvent, encodeEventBytes } from './protocol/encode.js';
export {
  EncodeError,
  type EncodeErrorType,
  isEncodeError,
  isParseError,
  isProtocolError,
  ParseError,
  type ParseErrorType,
  ProtocolError,
} from './protocol/errors.js';
export {
  createParser,
  DEFAULT_MAX_BUFFER_SIZE,
  type Parser,
  type ParserCallbacks,
  type ParserOptions,
} from './protocol/parse.js';
export { EventStreamParser, type EventStreamParserOptions } from './protocol/stream.js';
export type { OutgoingEvent, ServerSentEvent } from './protocol/types.js';
