'use client';

import { useRef, useState } from 'react';
import { EventStreamParser } from 'ssekit';

type Route = '/api/chat' | '/api/pages-chat';
type State = 'idle' | 'streaming' | 'done' | 'stopped' | 'error';

interface Timing {
  /** ms from the request to the first event, and to the end of the stream. */
  first?: number;
  last?: number;
}

export function Chat() {
  const [route, setRoute] = useState<Route>('/api/chat');
  const [message, setMessage] = useState('hello');
  const [reply, setReply] = useState('');
  const [state, setState] = useState<State>('idle');
  const [events, setEvents] = useState(0);
  const [timing, setTiming] = useState<Timing>({});
  const abort = useRef<AbortController | null>(null);

  async function send() {
    const controller = new AbortController();
    abort.current = controller;
    setReply('');
    setEvents(0);
    setTiming({});
    setState('streaming');
    const started = performance.now();
    let count = 0;
    try {
      const response = await fetch(route, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
        signal: controller.signal,
      });
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new EventStreamParser()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.event !== 'message') continue;
        const { content } = JSON.parse(value.data) as { role: string; content: string };
        if (count++ === 0) setTiming({ first: performance.now() - started });
        setEvents(count);
        setReply((text) => text + content);
      }
      setTiming((t) => ({ ...t, last: performance.now() - started }));
      setState('done');
    } catch (error) {
      setState(controller.signal.aborted ? 'stopped' : 'error');
      if (!controller.signal.aborted) console.error(error);
    }
  }

  return (
    <section>
      <fieldset>
        <label>
          <input
            type="radio"
            name="route"
            checked={route === '/api/chat'}
            onChange={() => setRoute('/api/chat')}
          />{' '}
          App Router
        </label>{' '}
        <label>
          <input
            type="radio"
            name="route"
            data-testid="pages-router"
            checked={route === '/api/pages-chat'}
            onChange={() => setRoute('/api/pages-chat')}
          />{' '}
          Pages Router
        </label>
      </fieldset>
      <input data-testid="message" value={message} onChange={(e) => setMessage(e.target.value)} />
      <button type="button" data-testid="send" onClick={send} disabled={state === 'streaming'}>
        Send
      </button>
      <button
        type="button"
        data-testid="stop"
        onClick={() => abort.current?.abort()}
        disabled={state !== 'streaming'}
      >
        Stop
      </button>
      <p
        data-testid="reply"
        data-state={state}
        data-events={events}
        data-first-ms={timing.first ?? ''}
        data-last-ms={timing.last ?? ''}
        style={{ whiteSpace: 'pre-wrap', minHeight: '3em' }}
      >
        {reply}
      </p>
      <small>{state}</small>
    </section>
  );
}
