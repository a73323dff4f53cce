/** Hub counters, as an object and as Prometheus text (exposition format 0.0.4). */

/** A snapshot of the hub's counters (this process only). */
export interface HubMetrics {
  /** Subscribers connected now (replaying or live). */
  subscribers: number;
  /** Topics with at least one subscriber in this process. */
  topics: number;
  /** Events published through this hub. */
  eventsPublished: number;
  /** Events written to subscribers (one event to three subscribers counts three), replays included. */
  eventsDelivered: number;
  /** Event-stream bytes written to subscribers (before any transport framing). */
  bytesWritten: number;
  /** Bytes queued for all subscribers now, not yet handed to the network (each bounded by `maxQueuedBytes`). */
  queuedBytes: number;
  /** Subscribers disconnected because they fell more than `maxQueuedBytes` behind. */
  slowConsumerDisconnects: number;
  /** Subscriptions that resumed from a Last-Event-ID with a replay. */
  replays: number;
  /** Subscriptions whose Last-Event-ID was older than history: they got a `reset`. */
  resets: number;
  /**
   * Live events not written to a subscriber because it already had them: a broker's feed that
   * lags behind its history (Redis) hands the hub, after a replay, events the replay already
   * carried. Expected to grow with resumes on such a broker; the events are not lost.
   */
  duplicatesDropped: number;
  /** Subscriptions ended because their authorization expired (a JWT's `exp`). */
  tokenExpiries: number;
  /** Requests refused, by HTTP status (400, 401, 403, 405, 413, 415, 503). */
  rejected: Record<string, number>;
}

const HELP: [keyof HubMetrics, string, 'gauge' | 'counter', string][] = [
  ['subscribers', 'ssekit_hub_subscribers', 'gauge', 'Subscribers connected now.'],
  ['topics', 'ssekit_hub_topics', 'gauge', 'Topics with at least one subscriber.'],
  ['queuedBytes', 'ssekit_hub_queued_bytes', 'gauge', 'Bytes queued for subscribers, not yet sent.'],
  ['eventsPublished', 'ssekit_hub_events_published_total', 'counter', 'Events published.'],
  ['eventsDelivered', 'ssekit_hub_events_delivered_total', 'counter', 'Events written to subscribers.'],
  ['bytesWritten', 'ssekit_hub_bytes_written_total', 'counter', 'Event-stream bytes written to subscribers.'],
  [
    'slowConsumerDisconnects',
    'ssekit_hub_slow_consumer_disconnects_total',
    'counter',
    'Subscribers disconnected for falling behind.',
  ],
  ['replays', 'ssekit_hub_replays_total', 'counter', 'Subscriptions resumed with a replay.'],
  [
    'duplicatesDropped',
    'ssekit_hub_duplicates_dropped_total',
    'counter',
    'Live events not sent because the subscriber already had them.',
  ],
  ['resets', 'ssekit_hub_resets_total', 'counter', 'Subscriptions told to reset (history too short).'],
  [
    'tokenExpiries',
    'ssekit_hub_token_expiries_total',
    'counter',
    'Subscriptions ended because their authorization expired.',
  ],
];

/**
 * Renders metrics as Prometheus text. `labels` are added to every sample (for example
 * `{ worker: '3' }` when several processes serve one port).
 *
 * @example
 * ```ts
 * import { createHub, PROMETHEUS_CONTENT_TYPE, toPrometheus } from 'ssekit/hub';
 *
 * const hub = createHub();
 * export function handle(request: Request) {
 *   if (new URL(request.url).pathname === '/metrics') {
 *     return new Response(toPrometheus(hub.metrics()), { headers: { 'content-type': PROMETHEUS_CONTENT_TYPE } });
 *   }
 *   return hub.handler(request);
 * }
 * ```
 */
export function toPrometheus(metrics: HubMetrics, labels: Record<string, string> = {}): string {
  const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  const fmt = (extra: string[] = []): string => {
    const all = [...base, ...extra];
    return all.length === 0 ? '' : `{${all.join(',')}}`;
  };
  let out = '';
  for (const [key, name, type, help] of HELP) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${fmt()} ${metrics[key] as number}\n`;
  }
  const rejected = 'ssekit_hub_requests_rejected_total';
  out += `# HELP ${rejected} Requests refused, by HTTP status.\n# TYPE ${rejected} counter\n`;
  for (const [status, count] of Object.entries(metrics.rejected)) {
    out += `${rejected}${fmt([`status="${escapeLabel(status)}"`])} ${count}\n`;
  }
  return out;
}

/** The content type of {@link toPrometheus}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
