/** POST /chat as every example serves it: JSON `{ message }` in, the bot's reply streamed out. */
export function postChat(baseUrl: string, message = 'hello'): Promise<Response> {
  return fetch(`${baseUrl}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
}
