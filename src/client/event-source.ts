/**
 * A WHATWG-compatible `EventSource` (HTML §9.2.2 "The EventSource interface") on top of
 * {@link connect}, with an optional extension of its second argument. Importing it never
 * touches the global `EventSource`.
 */
import { type Connection, type ConnectOptions, connect } from './connect.js';
import { HttpError } from './errors.js';
import { isReconnectable } from './reconnect.js';

/** The standard `EventSourceInit` plus what the browser's own cannot do. */
export interface EventSourceInit {
  /** Send cookies and credentials cross-origin (`credentials: 'include'`). */
  withCredentials?: boolean;
  /** Request method. Default `GET`. */
  method?: string;
  /** Extra request headers, sent on every attempt, or a function called before each one. */
  headers?: ConnectOptions['headers'];
  /** Request body, sent again on every reconnect (see {@link ConnectOptions.body}). */
  body?: ConnectOptions['body'];
  /** The `fetch` to use. Default: the global `fetch`. */
  fetch?: ConnectOptions['fetch'];
}

/**
 * The `MessageEvent` an {@link EventSource} dispatches: the platform's own, with `data` typed as
 * a string. A listener typed with the platform's `MessageEvent` is accepted as well.
 */
// Not `MessageEvent<string>`: the global `MessageEvent` of Node's type definitions is not
// generic, so that spelling breaks a Node-only project (and reads as `any` under skipLibCheck).
export interface EventSourceMessageEvent extends Omit<MessageEvent, 'data'> {
  readonly data: string;
}

type Handler = ((this: EventSource, event: Event) => unknown) | null;
type Listener =
  | ((this: EventSource, event: EventSourceMessageEvent) => unknown)
  | { handleEvent(event: EventSourceMessageEvent): unknown };
type MessageHandler = ((this: EventSource, event: EventSourceMessageEvent) => unknown) | null;
type StateListener = ((this: EventSource, event: Event) => unknown) | { handleEvent(event: Event): unknown };
/** `addEventListener`'s options. */
// The DOM's `AddEventListenerOptions`, written out: Node's type definitions do not declare that
// name globally.
interface ListenerOptions {
  capture?: boolean;
  once?: boolean;
  passive?: boolean;
  signal?: AbortSignal;
}

/**
 * `EventSource` as the HTML standard describes it: `readyState`, `url`, `withCredentials`,
 * `onopen`/`onmessage`/`onerror`, named events through `addEventListener`, `MessageEvent`s with
 * `data`, `lastEventId` and `origin`, and `close()`, with the WebIDL shape of the browser's own
 * (constants and read-only accessors on the prototype, `[object EventSource]`). The processing
 * model is the standard's: a network error or an ended stream reconnects. After a stream that
 * was open ends, the wait is exactly the reconnection time: the server's `retry:` value, else
 * 3000 ms (Chromium's default). Only failures in a row (no stream, or streams that end again
 * before any event) back off, with jitter, on top of it, as §9.2.3 allows. Any status other than 200, a 204 included, a type other than
 * `text/event-stream`, or a URL scheme other than `http:`, `https:`, `data:` or `blob:` closes it
 * with an `error` event.
 *
 * The second argument may also carry `method`, `headers`, `body` and `fetch`, for the
 * endpoints the browser's own `EventSource` cannot reach. A `POST` whose answer names a reply
 * (`Content-Location`) is resumed as {@link connect} resumes it: by a `GET` of the reply's URL,
 * and closed after its `end` event. `error` events carry the cause as a non-standard `error`
 * property.
 *
 * @example
 * ```ts
 * import { EventSource } from 'ssekit/client';
 *
 * const source = new EventSource('/feed', { headers: { authorization: `Bearer ${token}` } });
 * source.addEventListener('price', (event) => render(JSON.parse(event.data)));
 * source.onerror = () => {
 *   if (source.readyState === EventSource.CLOSED) showOffline();
 * };
 * ```
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface below (overloads only)
export class EventSource extends EventTarget {
  // WebIDL constants and the toStringTag, defined by shape() below on the prototype.
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSED: 2;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSED: 2;
  declare readonly [Symbol.toStringTag]: 'EventSource';
  #url: string;
  #withCredentials: boolean;
  #state: 0 | 1 | 2 = 0;
  #connection: Connection;
  #handlers: Record<string, Handler> = {};

  // A pure call in a static field, not a static block: a bundle that does not use the class
  // can still drop it (esbuild treats any static block as a side effect).
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: evaluated for its effect on the class
  static #shape = /* @__PURE__ */ shape(this);

  constructor(url: string | URL, init: EventSourceInit = {}) {
    super();
    const g = globalThis as { document?: { baseURI: string }; location?: { href: string } };
    try {
      this.#url = new URL(url, g.document?.baseURI ?? g.location?.href).href;
    } catch {
      // §9.2.2 step 3: "If urlRecord is failure, then throw a SyntaxError DOMException."
      throw new DOMException(`Invalid URL: ${url}`, 'SyntaxError');
    }
    const { withCredentials = false, method, headers, body, fetch } = init;
    this.#withCredentials = withCredentials;
    let origin = '';
    // Returns true: an `error` event is not cancelable, so dispatchEvent never reports it canceled.
    const fire = (error?: unknown): boolean =>
      this.dispatchEvent(Object.assign(new Event('error'), { error }));
    const href = this.#url;
    this.#connection = connect(href, {
      method,
      headers,
      body,
      // A scheme fetch cannot stream an event stream from (`ftp:`, `about:`, `mailto:`,
      // `javascript:`, `file:`...) fails the connection, as Chromium's own does: the fetch
      // "fails" at once with an error that is not a network error, so nothing retries it.
      fetch: /^(https?|data|blob):/.test(href)
        ? fetch
        : () => {
            throw new TypeError(`${href}: not http(s)`);
          },
      credentials: withCredentials ? 'include' : 'same-origin',
      // Chromium's default reconnection time; the spec leaves it to the user agent.
      reconnect: { initialDelay: 3000 },
      onOpen: (response) => {
        // "Announce the connection": open, then the `open` event.
        origin = new URL(response.url || href).origin;
        this.#state = 1;
        this.dispatchEvent(new Event('open'));
      },
      onEvent: (event) => {
        this.dispatchEvent(
          new MessageEvent(event.event, { data: event.data, lastEventId: event.id, origin }),
        );
      },
      onError: (error) => {
        // §9.2.2: a status other than 200 or a wrong Content-Type fails the connection, and so
        // does anything else the default policy would not retry (a refused body); a network
        // error, an ended stream or an oversized line reestablishes it (§9.2.3): CONNECTING,
        // an `error` event, then a wait.
        // (instanceof, not isHttpError: connect raises it from this very module graph.)
        if (error instanceof HttpError || !isReconnectable(error)) return false;
        this.#state = 0;
        return fire(error); // true: reconnect after the policy's delay
      },
    });
    // "Fail the connection": CLOSED and an `error` event, unless close() got there first.
    const fail = (error?: unknown): void => {
      if (this.#state === 2) return;
      this.#state = 2;
      fire(error);
    };
    // `closed` resolves with nothing: a clean end fails the connection with no error.
    this.#connection.closed.then(fail, fail);
  }

  /** The URL, resolved and serialized. */
  get url(): string {
    return this.#url;
  }

  /** Whether credentials go with cross-origin requests. */
  get withCredentials(): boolean {
    return this.#withCredentials;
  }

  /** 0 `CONNECTING`, 1 `OPEN` or 2 `CLOSED`. */
  get readyState(): 0 | 1 | 2 {
    return this.#state;
  }

  get onopen(): Handler {
    return this.#handlers.open ?? null;
  }
  set onopen(handler: Handler) {
    this.#setHandler('open', handler);
  }
  get onmessage(): MessageHandler {
    return (this.#handlers.message as MessageHandler) ?? null;
  }
  set onmessage(handler: MessageHandler) {
    this.#setHandler('message', handler as Handler);
  }
  get onerror(): Handler {
    return this.#handlers.error ?? null;
  }
  set onerror(handler: Handler) {
    this.#setHandler('error', handler);
  }

  /** Closes the connection for good, in any state, without an `error` event. */
  close(): void {
    this.#state = 2;
    this.#connection.close();
  }

  #setHandler(type: string, handler: Handler): void {
    // An event handler attribute holds one listener, registered when first set, that calls
    // whatever the attribute holds at the time of the event (HTML §8.1.8.1).
    if (!(type in this.#handlers)) {
      this.addEventListener(type, (event) => this.#handlers[type]?.call(this, event));
    }
    this.#handlers[type] = typeof handler === 'function' ? handler : null;
  }
}

/** Gives the class the WebIDL shape of the platform's `EventSource`. */
function shape(Source: typeof EventSource): void {
  const proto = Source.prototype;
  // Attributes and operations are enumerable in WebIDL (§3.7.6, §3.7.7), unlike a class's.
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key !== 'constructor') Object.defineProperty(proto, key, { enumerable: true });
  }
  // Constants on the interface object and its prototype: read-only, non-configurable,
  // enumerable (WebIDL §3.7.2), never own fields of an instance.
  ['CONNECTING', 'OPEN', 'CLOSED'].forEach((name, value) => {
    for (const target of [Source, proto]) Object.defineProperty(target, name, { value, enumerable: true });
  });
  // `[object EventSource]` (WebIDL §3.7.3: a data property, neither writable nor enumerable).
  Object.defineProperty(proto, Symbol.toStringTag, { value: 'EventSource', configurable: true });
}

// Typing only: named events are `MessageEvent`s, so listeners may read `data` without a cast;
// `open` and `error` are plain events, as in the DOM's EventSourceEventMap.
export interface EventSource {
  addEventListener(
    type: 'open' | 'error',
    listener: StateListener | null,
    options?: boolean | ListenerOptions,
  ): void;
  addEventListener(type: string, listener: Listener | null, options?: boolean | ListenerOptions): void;
  removeEventListener(
    type: 'open' | 'error',
    listener: StateListener | null,
    options?: boolean | Pick<ListenerOptions, 'capture'>,
  ): void;
  removeEventListener(
    type: string,
    listener: Listener | null,
    options?: boolean | Pick<ListenerOptions, 'capture'>,
  ): void;
}
