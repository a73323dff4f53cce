/** Shared bits of the demo pages. */

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'text') element.textContent = value;
    else element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

export function markTab(): void {
  const page = document.body.dataset.page;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (link.dataset.tab === page) link.setAttribute('aria-current', 'page');
  }
}

/** A page's status badge, in `state` (a `data-state` the CSS styles) with `text`. */
export function statusBadge(id: string, state: string, text: string): HTMLSpanElement {
  return h('span', { class: 'status', 'data-state': state, id, text });
}

/** Moves a status badge to another state. */
export function setStatus(element: HTMLElement, state: string, text: string): void {
  element.dataset.state = state;
  element.textContent = text;
}

/**
 * Text with `inline code` as DOM nodes: text nodes and `<code>` elements whose text is set, never
 * parsed as HTML (the text is the bot's, or the user's). An unpaired backtick stays as it is.
 */
export function inline(text: string): (Node | string)[] {
  const parts = text.split('`');
  // An even count of parts means an odd count of backticks: the last one has no pair (yet).
  const open = parts.length % 2 === 0 ? parts.pop() : undefined;
  const nodes = parts.map((part, i) => (i % 2 === 1 ? h('code', { text: part }) : part));
  if (open !== undefined) nodes.push(`\`${open}`);
  return nodes.filter((node) => node !== '');
}
