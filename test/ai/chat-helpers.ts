/**
 * The AI SDK's own client (`ai`'s `AbstractChat` with `DefaultChatTransport`, what `useChat`
 * runs) against `createChatReplies` on real node:http servers, and a mock model whose chunks the
 * test lets through one at a time (no timing).
 */
import {
  AbstractChat,
  type ChatState,
  type ChatStatus,
  type ChatTransport,
  DefaultChatTransport,
  type UIMessage,
} from 'ai';
import { afterEach } from 'vitest';
import { createRequestListener } from '../../src/adapters/node/index.js';
import { type ChatReplies, type ChatRepliesOptions, createChatReplies } from '../../src/ai/sdk.js';
import { deferred, listen } from '../helpers/server.js';

export const API = '/api/ai/chat';

/** A chat's state as `useChat` keeps it, with a way to wait for a condition on it. */
class TestState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready';
  error: Error | undefined = undefined;
  messages: UIMessage[];
  #waiters: { test: () => boolean; resolve: () => void }[] = [];
  constructor(messages: UIMessage[] = []) {
    this.messages = messages;
  }
  pushMessage = (message: UIMessage) => {
    this.messages = [...this.messages, message];
    this.#changed();
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
    this.#changed();
  };
  replaceMessage = (index: number, message: UIMessage) => {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
    this.#changed();
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }
  #changed(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }
}

export class TestChat extends AbstractChat<UIMessage> {
  readonly store: TestState;
  constructor(options: {
    id: string;
    api: string;
    messages?: UIMessage[];
    fetch?: typeof globalThis.fetch;
    /** Another transport than the AI SDK's default one. */
    transport?: ChatTransport<UIMessage>;
  }) {
    const store = new TestState(options.messages);
    super({
      id: options.id,
      state: store,
      transport:
        options.transport ??
        new DefaultChatTransport({
          api: options.api,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        }),
    });
    this.store = store;
  }
  /** The assistant's text in its last message. */
  get answer(): string {
    const last = this.store.messages.at(-1);
    if (last?.role !== 'assistant') return '';
    return last.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
  }
}

/** A model that sends `start`, a text of `words`, `finish`; each chunk waits for `step()`. */
export function pacedModel(words: readonly string[]) {
  const chunks: { type: string; [key: string]: unknown }[] = [
    { type: 'start' },
    { type: 'text-start', id: 't' },
    ...words.map((delta) => ({ type: 'text-delta', id: 't', delta })),
    { type: 'text-end', id: 't' },
    { type: 'finish', finishReason: 'stop' },
  ];
  let allowed = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  const aborted = deferred<unknown>();
  const cancelled = deferred<unknown>();
  const model = {
    chunks,
    calls: 0,
    get sent() {
      return sent;
    },
    aborted: aborted.promise,
    cancelled: cancelled.promise,
    /** Lets `n` more chunks through (all by default). */
    step(n = Number.POSITIVE_INFINITY) {
      allowed += n;
      wake?.();
    },
    produce: ({ signal }: { signal: AbortSignal }) => {
      model.calls++;
      signal.addEventListener('abort', () => aborted.resolve(signal.reason), { once: true });
      return new ReadableStream<{ type: string }>({
        async pull(controller) {
          while (sent >= allowed) await new Promise<void>((resolve) => (wake = resolve));
          const chunk = chunks[sent++];
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
        cancel(reason) {
          cancelled.resolve(reason);
        },
      });
    },
  };
  return model;
}

export type Model = ReturnType<typeof pacedModel>;

/** An instance: POST <API> starts the model set with `setModel`, the rest is `chat.handler`. */
export async function serveChat(options: ChatRepliesOptions = {}) {
  const chat: ChatReplies = createChatReplies({ api: API, heartbeat: false, ...options });
  let model: Model | undefined;
  const server = await listen(
    createRequestListener(async (request) => {
      if (request.method === 'POST' && new URL(request.url).pathname === API) {
        const body = (await request.json()) as { id: string };
        if (model === undefined) throw new Error('no model set');
        return chat.start(request, body.id, model.produce);
      }
      return chat.handler(request);
    }),
  );
  return {
    chat,
    url: server.url,
    api: `${server.url}${API}`,
    setModel(next: Model) {
      model = next;
    },
    async close() {
      await chat.replies.close({ timeout: 0 });
      await server.close();
    },
  };
}

export type ChatInstance = Awaited<ReturnType<typeof serveChat>>;

export function chatInstancesPerTest() {
  const open: ChatInstance[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((i) => i.close()));
  });
  return async (options: ChatRepliesOptions = {}) => {
    const created = await serveChat(options);
    open.push(created);
    return created;
  };
}

/**
 * The same response, with a body that `cut()` ends mid-way as a dropped connection does (a
 * `TypeError` naming the network, which the AI SDK's chat keeps as resumable).
 */
export function cuttableResponse(response: Response): { response: Response; cut: () => void } {
  if (response.body === null) return { response, cut: () => {} };
  const reader = response.body.getReader();
  let cut = (): void => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      cut = () => {
        controller.error(new TypeError('network error'));
        void reader.cancel();
      };
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  return {
    response: new Response(body, { status: response.status, headers: response.headers }),
    cut: () => cut(),
  };
}

/** A fetch whose POST responses can be cut mid-body (see {@link cuttableResponse}). */
export function cuttableFetch() {
  let cutNow: (() => void) | undefined;
  const fetchWithCut: typeof globalThis.fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init);
    if (init?.method !== 'POST' || response.body === null) return response;
    const cuttable = cuttableResponse(response);
    cutNow = cuttable.cut;
    return cuttable.response;
  };
  return {
    fetch: fetchWithCut,
    cut() {
      if (cutNow === undefined) throw new Error('no POST to cut');
      cutNow();
    },
  };
}
