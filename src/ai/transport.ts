/**
 * `ssekit/ai-sdk-client`: a `ChatTransport` for the AI SDK's chat (`useChat({ transport })`) on
 * `ssekit/client`'s `connect`, for the endpoints of `createChatReplies`. Where the AI SDK's
 * `DefaultChatTransport` falls short:
 * - a dropped connection mid-reply is resumed by the transport itself, after the last event id
 *   (a `GET` of the reply's URL with `Last-Event-ID`, `Content-Location` of the POST's answer):
 *   the chat sees one unbroken stream, each chunk once, and no error; the default transport
 *   ends the chat in `error` and resumes only on a later `resumeStream()`, from the start;
 * - `headers` may be a function, called before every attempt (a token that expires mid-reply).
 * On load, `reconnectToStream` asks `<api>/<chatId>/stream` for the chat's running reply (from
 * its start, as the default transport does; `null` on `204`). Imports the client and protocol
 * layers only (and no code of the AI SDK): it runs in the browser.
 */
import { connect } from '../client/connect.js';
import type { ReconnectOptions } from '../client/reconnect.js';

/** Options of {@link ResumableChatTransport}. */
export interface ResumableChatTransportOptions {
  /** The chat endpoint (`createChatReplies`' `api`). Default `'/api/chat'`. */
  api?: string;
  /** Headers of every request, or a function called before each attempt (a fresh token). */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /** Extra fields of the POST's JSON body (beside `id`, `messages`, `trigger`, `messageId`). */
  body?: Record<string, unknown>;
  /** `fetch`'s `credentials`. Default `'same-origin'`. */
  credentials?: RequestCredentials;
  /** The `fetch` to use. Default: the global one. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Reconnection policy of the stream (see `connect`), or `false`. Default: `connect`'s. */
  reconnect?: ReconnectOptions | false;
}

/** What the AI SDK's chat hands `sendMessages` (its `ChatTransport`), as far as it is read here. */
export interface SendMessagesOptions {
  readonly chatId: string;
  readonly messages: readonly unknown[];
  readonly abortSignal: AbortSignal | undefined;
  readonly trigger: 'submit-message' | 'regenerate-message';
  readonly messageId: string | undefined;
  readonly headers?: Record<string, string> | Headers | undefined;
  readonly body?: object | undefined;
}

/** What the AI SDK's chat hands `reconnectToStream`, as far as it is read here. */
export interface ReconnectToStreamOptions {
  readonly chatId: string;
  readonly abortSignal?: AbortSignal | undefined;
  readonly headers?: Record<string, string> | Headers | undefined;
}

const DONE = '[DONE]';

/**
 * A `ChatTransport` for `useChat` on `createChatReplies`: resumes a dropped reply after its last
 * id by itself, and sends fresh headers on every attempt.
 *
 * @example
 * ```ts
 * import { ResumableChatTransport } from 'ssekit/ai-sdk-client';
 *
 * declare function freshToken(): Promise<string>;
 *
 * const transport = new ResumableChatTransport({
 *   api: '/api/ai/chat',
 *   headers: async () => ({ authorization: `Bearer ${await freshToken()}` }),
 * });
 * // useChat({ id, transport, resume: true })
 * ```
 */
export class ResumableChatTransport {
  /** A resume from `<api>/<chatId>/stream` replays the reply from its start (the chat rebuilds the message). */
  readonly resumeStreamIsReplay = true;
  readonly #api: string;
  readonly #options: ResumableChatTransportOptions;

  constructor(options: ResumableChatTransportOptions = {}) {
    this.#api = options.api ?? '/api/chat';
    this.#options = options;
  }

  /** POSTs the chat (the default transport's body) and streams the reply's chunks. */
  // biome-ignore lint/suspicious/noExplicitAny: the AI SDK's UIMessageChunk, which is not imported
  async sendMessages(options: SendMessagesOptions): Promise<ReadableStream<any>> {
    const body = JSON.stringify({
      ...this.#options.body,
      ...options.body,
      id: options.chatId,
      messages: options.messages,
      trigger: options.trigger,
      messageId: options.messageId,
    });
    const { stream } = this.#open(this.#api, 'POST', body, options.headers, options.abortSignal);
    return stream;
  }

  /** The chat's running reply from its start, or `null` when none runs (`204`). */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  async reconnectToStream(options: ReconnectToStreamOptions): Promise<ReadableStream<any> | null> {
    const url = `${this.#api.replace(/\/+$/, '')}/${encodeURIComponent(options.chatId)}/stream`;
    const { stream, first } = this.#open(url, 'GET', null, options.headers, options.abortSignal);
    const response = await first;
    if (response.status === 204) {
      await stream.cancel();
      return null;
    }
    return stream;
  }

  #open(
    url: string,
    method: 'GET' | 'POST',
    body: string | null,
    extra: Record<string, string> | Headers | undefined,
    signal: AbortSignal | undefined,
    // biome-ignore lint/suspicious/noExplicitAny: as above
  ): { stream: ReadableStream<any>; first: Promise<Response> } {
    const { headers, credentials = 'same-origin', reconnect } = this.#options;
    const fetcher = this.#options.fetch ?? globalThis.fetch.bind(globalThis);
    let answered!: (response: Response) => void;
    let failed!: (error: unknown) => void;
    const first = new Promise<Response>((resolve, reject) => {
      answered = resolve;
      failed = reject;
    });
    first.catch(() => {});
    // Headers are made for each attempt: a function is called again before every reconnect.
    const fetchWithHeaders = async (input: string, init: RequestInit): Promise<Response> => {
      const merged = new Headers(init.headers);
      const own = typeof headers === 'function' ? await headers() : headers;
      for (const [name, value] of new Headers(own)) merged.set(name, value);
      for (const [name, value] of new Headers(extra)) merged.set(name, value);
      try {
        const response = await fetcher(input, { ...init, headers: merged, credentials });
        answered(response);
        return response;
      } catch (error) {
        failed(error);
        throw error;
      }
    };
    const connection = connect(url, {
      method,
      ...(body === null ? {} : { body, headers: { 'content-type': 'application/json' } }),
      fetch: fetchWithHeaders,
      ...(signal ? { signal } : {}),
      ...(reconnect === undefined ? {} : { reconnect }),
    });
    const events = connection[Symbol.asyncIterator]();
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const stream = new ReadableStream<any>({
      async pull(controller) {
        try {
          const { done, value } = await events.next();
          if (done) {
            controller.close();
            return;
          }
          if (value.data === DONE) {
            // The reply's end: close now rather than reconnect to learn it (a 204).
            connection.close();
            controller.close();
            return;
          }
          controller.enqueue(JSON.parse(value.data));
        } catch (error) {
          failed(error);
          controller.error(error);
        }
      },
      cancel() {
        connection.close();
      },
    });
    return { stream, first };
  }
}
