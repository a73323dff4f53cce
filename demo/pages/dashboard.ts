// Dashboard: the hub's figures, themselves delivered over SSE. Its streams are shared by every
// tab of the demo (ssekit/share): with several tabs open, the hub counts one subscriber per
// browser, not one per tab.
import { EventSource } from 'ssekit/client';
import { connectShared } from 'ssekit/share';
import { h, markTab, setStatus, statusBadge } from './common.js';

interface Stats {
  subscribers: number;
  topics: number;
  eventsPublished: number;
  eventsDelivered: number;
  bytesWritten: number;
  slowConsumerDisconnects: number;
  replays: number;
  publishedPerSecond: number;
  deliveredPerSecond: number;
}

markTab();
const app = document.getElementById('app')!;
const status = statusBadge('dash-status', 'connecting', 'Connecting…');
const card = (key: string, label: string) => {
  const value = h('div', { class: 'value', id: `stat-${key}`, text: '–' });
  return { value, element: h('div', { class: 'card' }, h('div', { class: 'label', text: label }), value) };
};
const cards = {
  subscribers: card('subscribers', 'Subscribers'),
  rate: card('rate', 'Delivered / s'),
  delivered: card('delivered', 'Delivered'),
  published: card('published', 'Published'),
  bytes: card('bytes', 'Bytes sent'),
  slow: card('slow', 'Slow consumers'),
};
const canvas = h('canvas', { id: 'chart', width: '840', height: '180' });
const burst = h('button', { class: 'primary', id: 'burst', text: 'Publish a burst of 200 events' });
const slow = h('button', { id: 'slow', text: 'Simulate a slow consumer' });
const more = h('button', { id: 'subscribe', text: 'Open 3 more subscribers' });
const received = h('p', { class: 'count', id: 'burst-received' });
app.append(
  h('h1', { text: 'Dashboard' }),
  h('p', {
    class: 'lede',
    text: 'GET /api/stats streams the hub’s counters twice a second, rates averaged over 2 s. This page subscribes to the burst’s topic “load” itself; open the live feed in another tab, publish, or use the buttons.',
  }),
  h('div', { class: 'bar' }, h('strong', { text: 'Hub' }), status),
  h('div', { class: 'cards' }, ...Object.values(cards).map((c) => c.element)),
  h(
    'div',
    { class: 'panel chart' },
    h('div', { class: 'bar' }, h('span', { class: 'tag', text: 'Events delivered per second, last 60 s' })),
    canvas,
  ),
  h('div', { class: 'actions' }, burst, slow, more),
  received,
);

const history: number[] = [];
let samples = 0;
const format = new Intl.NumberFormat('en');
const compact = new Intl.NumberFormat('en', { notation: 'compact' });
const bytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

function draw(): void {
  const ctx = canvas.getContext('2d')!;
  const scale = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = width * scale;
  canvas.height = height * scale;
  ctx.scale(scale, scale);
  ctx.clearRect(0, 0, width, height);
  // A round axis top (10, 20, 50, 100, ...) reads better than the raw maximum.
  const peak = Math.max(10, ...history);
  const magnitude = 10 ** Math.floor(Math.log10(peak));
  const max = [1, 2, 5, 10].map((f) => f * magnitude).find((v) => v >= peak) ?? peak;
  ctx.strokeStyle = '#e4e7ee';
  ctx.fillStyle = '#667085';
  ctx.font = '11px system-ui, sans-serif';
  for (const f of [0, 0.5, 1]) {
    const y = height - 22 - f * (height - 34);
    ctx.beginPath();
    ctx.moveTo(36, y);
    ctx.lineTo(width, y);
    ctx.stroke();
    ctx.fillText(compact.format(Math.round(max * f)), 0, y + 4);
  }
  // The time axis: the right edge is now, the left one a minute ago.
  ctx.fillText('60 s ago', 36, height - 2);
  ctx.textAlign = 'right';
  ctx.fillText('now', width, height - 2);
  ctx.textAlign = 'left';
  if (history.length < 2) return;
  const step = (width - 40) / 119;
  const x = (i: number) => 36 + (120 - history.length + i) * step;
  const y = (v: number) => height - 22 - (v / max) * (height - 34);
  ctx.beginPath();
  history.forEach((v, i) => {
    if (i === 0) ctx.moveTo(x(i), y(v));
    else ctx.lineTo(x(i), y(v));
  });
  ctx.lineTo(x(history.length - 1), height - 22);
  ctx.lineTo(x(0), height - 22);
  ctx.fillStyle = 'rgba(79, 70, 229, 0.12)';
  ctx.fill();
  ctx.beginPath();
  history.forEach((v, i) => {
    if (i === 0) ctx.moveTo(x(i), y(v));
    else ctx.lineTo(x(i), y(v));
  });
  ctx.strokeStyle = '#4f46e5';
  ctx.lineWidth = 2;
  ctx.stroke();
}

function render(stats: Stats): void {
  cards.subscribers.value.textContent = format.format(stats.subscribers);
  cards.rate.value.textContent = format.format(stats.deliveredPerSecond);
  cards.delivered.value.textContent = format.format(stats.eventsDelivered);
  cards.published.value.textContent = format.format(stats.eventsPublished);
  cards.bytes.value.textContent = bytes(stats.bytesWritten);
  cards.slow.value.textContent = format.format(stats.slowConsumerDisconnects);
  history.push(stats.deliveredPerSecond);
  if (history.length > 120) history.shift();
  canvas.dataset.samples = String(++samples);
  canvas.dataset.peak = String(Math.max(...history));
  draw();
}
draw();
window.addEventListener('resize', draw);

(async () => {
  const stats = connectShared('/api/stats', {
    onOpen: () => setStatus(status, 'live', 'Live'),
    onReconnect: () => setStatus(status, 'reconnecting', 'Reconnecting…'),
  });
  try {
    for await (const event of stats) if (event.event === 'stats') render(JSON.parse(event.data) as Stats);
  } catch (error) {
    setStatus(status, 'error', `Stopped: ${(error as Error).name}`);
  }
})();

// The demo's own subscriber on the burst's topic (one for all its tabs): the first burst is
// delivered (to it) at once.
(async () => {
  let ticks = 0;
  for await (const event of connectShared('/hub?topic=load')) {
    if (event.event !== 'tick') continue;
    received.textContent = `This page’s subscription to “load” received ${format.format(++ticks)} events.`;
  }
})();

const post = async (button: HTMLButtonElement, path: string) => {
  button.disabled = true;
  try {
    // JSON, as the server requires of every POST: a page on another site cannot send it
    // without a CORS preflight, which the server never grants.
    await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  } finally {
    button.disabled = false;
  }
};
burst.addEventListener('click', () => post(burst, '/api/burst'));
slow.addEventListener('click', () => post(slow, '/api/slow-consumer'));
// Extra subscribers on the burst topic, so fan-out shows in "delivered": connections of their
// own, on purpose. Only three: over HTTP/1.1 a browser keeps at most six connections per origin,
// and each stream holds one (the tab that leads the shared streams holds two already: /api/stats
// and the subscription to "load"; another may hold the live feed's).
more.addEventListener(
  'click',
  () => {
    for (let i = 0; i < 3; i++) new EventSource('/hub?topic=load');
    more.disabled = true;
    more.textContent = '3 extra subscribers open';
  },
  { once: true },
);
