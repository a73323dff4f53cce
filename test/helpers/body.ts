import { createParser, type ServerSentEvent } from '../../src/index.js';

/** Reads a body chunk by chunk, keeping the text and the events parsed so far. */
export class BodyReader {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  text = '';
  readonly events: ServerSentEvent[] = [];
  readonly comments: string[] = [];
  done = false;
  private readonly decoder = new TextDecoder();
  private readonly parser = createParser({
    onEvent: (event) => this.events.push(event),
    onComment: (comment) => this.comments.push(comment),
  });

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (body === null) throw new Error('no body');
    this.reader = body.getReader();
  }

  /** One read(); returns the chunk's text ('' at the end). */
  async next(): Promise<string> {
    const { done, value } = await this.reader.read();
    if (done) {
      this.done = true;
      return '';
    }
    const chunk = this.decoder.decode(value, { stream: true });
    this.text += chunk;
    this.parser.feed(chunk);
    return chunk;
  }

  /** Reads until `predicate` holds or the body ends. */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate() && !this.done) await this.next();
  }

  async rest(): Promise<string> {
    while (!this.done) await this.next();
    return this.text;
  }
}

/** One macrotask turn: lets every pending microtask and I/O callback run (not a sleep). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
