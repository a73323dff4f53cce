import { Chat } from './chat';

export default function Page() {
  return (
    <main>
      <h1>ssekit chat</h1>
      <p>
        The mock bot streams its reply one character per event, from an App Router route handler or a Pages
        Router API route.
      </p>
      <Chat />
    </main>
  );
}
