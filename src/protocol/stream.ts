import type { ParseError } from './errors.js';
import { createParser, type Parser, type ParserOptions } from './parse.js';
import type { ServerSentEvent } from './types.js';

export interface EventStreamParserOptions extends ParserOptions {
  /** Called for each valid `retry` field. */
  onRetry?(ms: number): void;
  /** Called for each comment line. */
  onComment?(text: string): void;
  /**
   * What an oversized line or event does: a function is called with the `ParseError` and the
   * stream goes on; `'terminate'` (the default; eventsource-parser's stream takes the same
   * value) errors the stream with it.
   */
  onError?: 'terminate' | ((error: ParseError) => void);
}

/**
 * A `TransformStream` from the bytes (or text) of an event stream to its events, over the same
 * core as {@link createParser}. It decodes UTF-8 itself: no `TextDecoderStream` is needed.
 *
 * @example
 * ```ts
 * const response = await fetch(url);
 * for await (const event of response.body!.pipeThrough(new EventStreamParser())) {
 *   console.log(event.data);
 * }
 * ```
 */
export class EventStreamParser extends TransformStream<string | Uint8Array, ServerSentEvent> {
  constructor(options: EventStreamParserOptions = {}) {
    let parser: Parser;
    super({
      start(controller) {
        let failed = false;
        parser = createParser(
          {
            onEvent(event) {
              if (!failed) controller.enqueue(event);
            },
            onRetry: options.onRetry,
            onComment: options.onComment,
            onError:
              typeof options.onError === 'function'
                ? options.onError
                : (error) => {
                    failed = true;
                    controller.error(error);
                  },
          },
          options,
        );
      },
      transform(chunk) {
        parser.feed(chunk);
      },
    });
  }
}
