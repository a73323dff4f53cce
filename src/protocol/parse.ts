/**
 * Incremental `text/event-stream` parser: the callback core.
 *
 * It follows WHATWG HTML §9.2.6 "Interpreting an event stream" step by step; the section names
 * quoted in comments below are from that part of the spec. The whole hot path is `feedText` and
 * `line`: read them top to bottom.
 *
 * Cost is linear in the input: a line that spans many chunks is kept as one string built by
 * concatenation (which V8 and the other engines do in constant time, as a rope, and copy flat
 * once, when the line is first read), and the positions of the next CR and LF in a chunk are
 * remembered, so no byte is scanned twice however the stream is cut.
 */
import { ChunkDecoder } from './decode.js';
import { ParseError } from './errors.js';
import type { ServerSentEvent } from './types.js';

/** Functions the parser calls as it reads. All optional. */
export interface ParserCallbacks {
  /** A block was dispatched as an event. */
  onEvent?(event: ServerSentEvent): void;
  /** A `retry` field with a valid value (only ASCII digits): the reconnection time in ms. */
  onRetry?(ms: number): void;
  /** A comment line: the text after the colon, with one leading space removed. */
  onComment?(text: string): void;
  /**
   * The parser dropped input it will not hold. Parsing goes on with the next block. Without
   * this callback, `feed()` throws the first such error after it has read the whole chunk.
   */
  onError?(error: ParseError): void;
}

export interface ParserOptions {
  /**
   * Most characters the parser holds for one line or one event (pending line, data, event
   * type). Beyond it the line or event is dropped and a `ParseError` of type
   * `'max-buffer-size-exceeded'` is reported. Default {@link DEFAULT_MAX_BUFFER_SIZE}.
   */
  maxBufferSize?: number;
}

export interface Parser {
  /** Reads the next chunk of the stream, as bytes (UTF-8) or as already decoded text. */
  feed(chunk: string | Uint8Array): void;
  /**
   * Starts over, as for a new stream: BOM handling, buffers and the last event ID. A client
   * that reconnects passes the ID it already holds as `lastEventId`, so that events of the new
   * stream that carry no `id` field keep it, as browsers do (they seed the new stream's last
   * event ID buffer with the EventSource's last event ID string).
   */
  reset(options?: { lastEventId?: string }): void;
  /** The last event ID string, as the spec keeps it (set when a block ends). */
  readonly lastEventId: string;
}

/** 4 Mi characters: roomy for any real event, small enough that a hostile peer cannot hurt. */
export const DEFAULT_MAX_BUFFER_SIZE = 2 ** 22;

// Character codes are written as literals, each named where it is compared: 10 LF, 32 space,
// 58 colon, 0xfeff BOM, and 100, 97, 116, 105 for the letters of "data" and "id". Bundlers do
// not inline module constants, so named ones would cost the client's bundle their declarations.

/**
 * The parser's core over text (internal): {@link Parser} without its UTF-8 decoding, and with
 * its last event id read by a call, not a getter (a plain object with a getter is one V8 keeps
 * in dictionary mode; a method also costs the client's bundle fewer bytes than a class).
 */
export interface TextParser {
  feed(chunk: string): void;
  /**
   * {@link Parser.reset}, with the last event ID given as a string: without one, the parser
   * keeps the ID it holds (what a client that reconnects wants), where `Parser.reset()` clears it.
   */
  reset(lastEventId?: string): void;
  lastId(): string;
}

/**
 * "If value starts with a U+0020 SPACE character, remove it from value": the index after that
 * space. Callers pass an index at most that of the line end, never a space, so the read stays in
 * bounds (an out-of-bounds charCodeAt deoptimizes its call site).
 */
function skipSpace(s: string, i: number): number {
  return s.charCodeAt(i) === 32 /* space */ ? i + 1 : i;
}

/**
 * Creates a parser that reads an event stream chunk by chunk and calls back for each event,
 * `retry` field and comment.
 *
 * @example
 * ```ts
 * const parser = createParser({ onEvent: (e) => console.log(e.event, e.data, e.id) });
 * const response = await fetch(url);
 * if (!response.body) throw new Error(`no body: ${response.status}`);
 * for await (const chunk of response.body) parser.feed(chunk);
 * ```
 */
export function createParser(callbacks: ParserCallbacks, options: ParserOptions = {}): Parser {
  // eventsource-parser 1 took a function; a function here would build a parser that calls
  // nothing back, silently.
  if (typeof callbacks === 'function') {
    throw new TypeError('createParser takes callbacks, not a function: pass { onEvent: fn }');
  }
  const core = createTextParser(callbacks, options);
  let decoder: ChunkDecoder | undefined;
  return new ParserObject(
    {
      feed(chunk: string | Uint8Array): void {
        if (typeof chunk === 'string') {
          // Bytes fed earlier may end with part of a character: finish it first (one feed, so a
          // ParseError is still thrown only after the whole chunk is read).
          const rest = decoder?.flush() ?? '';
          decoder = undefined;
          core.feed(rest + chunk);
        } else {
          // Event streams are always UTF-8 (§9.2.6); invalid bytes become U+FFFD, the same
          // however the bytes are cut. A BOM is kept for the core to skip, so bytes and text
          // take one path.
          decoder ??= new ChunkDecoder();
          core.feed(decoder.decode(chunk));
        }
      },
      reset(options?: { lastEventId?: string }): void {
        decoder = undefined;
        core.reset(options?.lastEventId ?? '');
      },
    },
    core.lastId,
  );
}

/**
 * What a parser is: its `feed` and `reset`, and a read-only `lastEventId` read through `id`. A
 * class, not an object literal with a getter: V8 keeps such a literal in dictionary mode, which
 * made every `parser.feed` a hash lookup (and a getter given to each object by `defineProperty`
 * does the same from the second object on).
 */
class ParserObject<C> {
  readonly feed: (chunk: C) => void;
  readonly reset: (options?: { lastEventId?: string }) => void;
  readonly #id: () => string;

  constructor(parser: Omit<ParserObject<C>, 'lastEventId'>, id: () => string) {
    this.feed = parser.feed;
    this.reset = parser.reset;
    this.#id = id;
  }

  get lastEventId(): string {
    return this.#id();
  }
}

/**
 * The parser's core, over text: {@link createParser} without its UTF-8 decoding (internal; the
 * client decodes with the platform's streaming `TextDecoder`, which keeps its bundle small).
 */
export function createTextParser(callbacks: ParserCallbacks, options: ParserOptions = {}): TextParser {
  const { onEvent, onRetry, onComment, onError } = callbacks;
  const max = options.maxBufferSize ?? DEFAULT_MAX_BUFFER_SIZE;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(`maxBufferSize must be a positive integer, got ${String(max)}`);
  }

  let atStart = true; // no character seen yet: a BOM here is skipped
  let skipLF = false; // the previous chunk ended with CR: an LF that starts this one belongs to it
  let pending = ''; // the start of the current line, cut across chunks; '' when there is none
  let discardLine = false; // the current line overflowed: drop the rest of it
  let dropEvent = false; // the current block overflowed: drop it up to its blank line
  let data: string | undefined; // data buffer; undefined is the spec's empty buffer
  let eventType = ''; // event type buffer
  let idBuffer = ''; // last event ID buffer
  let lastId = ''; // last event ID string
  let thrown: ParseError | undefined;

  /** `size` characters would be held for one line or event: drop them and report it. */
  function report(size: number): void {
    const error = new ParseError('max-buffer-size-exceeded', `${size} characters > maxBufferSize ${max}`);
    // Whatever the line or block held is gone: it cannot be dispatched whole.
    pending = '';
    data = undefined;
    eventType = '';
    dropEvent = true;
    if (onError) onError(error);
    else thrown ??= error;
  }

  /** "Dispatch the event": called for each blank line. */
  function dispatch(): void {
    lastId = idBuffer;
    // A block that overflowed, or one with no data, dispatches nothing. The spec's trailing LF
    // is never added (lines are joined with '\n'), so there is nothing to strip.
    const event: ServerSentEvent | undefined =
      dropEvent || data === undefined ? undefined : { event: eventType || 'message', data, id: lastId };
    dropEvent = false;
    data = undefined;
    eventType = '';
    if (event) onEvent?.(event);
  }

  /** A `data` field: appended to the data buffer, which is bounded with the event type. */
  function addData(value: string): void {
    // "Append the field value to the data buffer, then append a single U+000A LINE FEED": the
    // LF goes between values here, so there is none to strip at dispatch.
    data = data === undefined ? value : `${data}\n${value}`;
    if (data.length + eventType.length > max) report(data.length);
  }

  /**
   * One complete line, `s[start..end)`. `s[end]` is its line end (CR or LF): every read below
   * stays in the string (an out-of-bounds charCodeAt deoptimizes its call site). Small, so that
   * it is inlined where lines are found; the rarer lines are read by field(). `event:` is
   * matched in two pieces of 3 characters: V8 (Node 20) compares a constant string that short
   * inline, and calls out for a longer one, which cost about as much as the rest of an LLM
   * token's event (row a of bench:parser). "data:" and "id:" stay compared by character code:
   * matched with startsWith too, they made the parser's speed after a mix of one- and two-byte
   * streams swing by up to 2x from run to run (bench/parser.mjs rows c, d, g, i).
   */
  function line(s: string, start: number, end: number): void {
    const c0 = s.charCodeAt(start);
    if (start === end) dispatch();
    else if (dropEvent) {
      // The block overflowed: its lines are dropped up to its blank line.
    } else if (end - start > max) report(end - start);
    else if (
      c0 === 100 &&
      s.charCodeAt(start + 1) === 97 &&
      s.charCodeAt(start + 2) === 116 &&
      s.charCodeAt(start + 3) === 97 &&
      s.charCodeAt(start + 4) === 58 // :
    ) {
      // "data:", the line of nearly every block.
      addData(s.slice(skipSpace(s, start + 5), end));
    } else if (c0 === 105 && s.charCodeAt(start + 1) === 100 && s.charCodeAt(start + 2) === 58 /* : */) {
      // "id:"
      setId(s.slice(skipSpace(s, start + 3), end));
    } else if (s.startsWith('eve', start) && s.startsWith('nt:', start + 3)) {
      // "event:"
      setType(s.slice(skipSpace(s, start + 6), end));
    } else field(s, start, end);
  }

  /** An `event` field: sets the event type buffer, which is bounded with the data. */
  function setType(value: string): void {
    eventType = value;
    // Bounded with the data, whichever line comes first (an event type alone is no longer
    // than its line, bounded already; so is one beside empty data).
    if (data && data.length + eventType.length > max) report(data.length);
  }

  /** "If the field value does not contain U+0000 NULL, then set the last event ID buffer." */
  function setId(value: string): void {
    if (!value.includes('\0')) idBuffer = value;
  }

  /**
   * Any other non-blank line of a block that has not overflowed: a comment, a `retry:` field,
   * or a line with no colon. A `data`, `event` or `id` line with a colon was read by line(); a
   * line without one is a field name with an empty value (§9.2.6 "Otherwise, the string is not
   * empty but does not contain a U+003A COLON character"), so those names match only a whole
   * line. Nothing here searches a long line for a colon that cannot matter.
   */
  function field(s: string, start: number, end: number): void {
    if (s.charCodeAt(start) === 58 /* : */) {
      // "If the line starts with a U+003A COLON character": a comment.
      onComment?.(s.slice(skipSpace(s, start + 1), end));
    } else if (s.startsWith('retry:', start)) {
      const value = s.slice(skipSpace(s, start + 6), end);
      // "If the field value consists of only ASCII digits" (an empty value has none; \d
      // without the u flag is [0-9] only).
      if (/^\d+$/.test(value)) onRetry?.(Number(value));
    } else {
      // A whole line compared as a name: any other line, with a colon or not, names a field
      // that is ignored (so is `retry` with no colon: its empty value has no digits).
      const name = s.slice(start, end);
      if (name === 'data') addData('');
      else if (name === 'event') setType('');
      else if (name === 'id') setId('');
    }
    // "Otherwise: the field is ignored."
  }

  function feedText(text: string): void {
    const len = text.length;
    let pos = 0;
    if (atStart) {
      if (len === 0) return;
      atStart = false;
      // One leading U+FEFF BOM is ignored, only at the very start of the stream.
      if (text.charCodeAt(0) === 0xfeff /* BOM */) pos = 1;
    }
    if (skipLF && pos < len) {
      skipLF = false;
      if (text.charCodeAt(pos) === 10 /* LF */) pos++;
    }
    // Positions of the next LF and CR at or after pos (-1: none left in this chunk). Each is
    // searched again only once passed, so a chunk is scanned once for each.
    let lf = text.indexOf('\n', pos);
    let cr = text.indexOf('\r', pos);
    while (lf !== -1 || cr !== -1) {
      if (!pending && !discardLine) {
        // The common case first: lines that end with a lone LF (no CR before it).
        while (lf !== -1 && (cr === -1 || lf < cr)) {
          line(text, pos, lf);
          pos = lf + 1;
          // A blank line right after: no need to search for its end.
          if (pos < len && text.charCodeAt(pos) === 10 /* LF */) {
            dispatch();
            pos++;
          }
          lf = text.indexOf('\n', pos);
        }
        if (cr === -1) break; // and lf === -1: no line ends left
      }
      // Lines end with CRLF, LF or CR. A CR that ends the chunk ends its line now; an LF that
      // starts the next chunk is then skipped.
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      let next = end + 1;
      if (end === cr) {
        if (next === len) skipLF = true;
        else if (text.charCodeAt(next) === 10 /* LF */) next++;
      }
      if (pending) {
        // A line cut across chunks has just been completed: its pieces are read as one string
        // (with an LF, for line() to find its end in bounds).
        const joined = `${pending}${text.slice(pos, end)}\n`;
        pending = '';
        line(joined, 0, joined.length - 1);
      } else if (discardLine) discardLine = false;
      else line(text, pos, end);
      pos = next;
      if (lf !== -1 && lf < pos) lf = text.indexOf('\n', pos);
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
    }
    if (pos < len && !discardLine) {
      // The rest is the start of a line whose end has not arrived yet. Its length bounds it
      // with the data, whether it is kept or dropped.
      const rest = pending + text.slice(pos);
      if (rest.length + (data === undefined ? 0 : data.length) > max) {
        report(rest.length);
        discardLine = true;
      } else {
        pending = rest;
      }
    }
  }

  return {
    feed(chunk: string): void {
      feedText(chunk);
      const error = thrown;
      thrown = undefined;
      if (error) throw error;
    },
    reset(id = lastId): void {
      atStart = true;
      skipLF = false;
      pending = '';
      discardLine = false;
      dropEvent = false;
      data = undefined;
      eventType = '';
      idBuffer = lastId = id;
      thrown = undefined;
    },
    lastId: () => lastId,
  };
}
