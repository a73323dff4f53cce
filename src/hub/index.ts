/**
 * `ssekit/hub`: topics, encode-once fan-out, bounded history with Last-Event-ID resume,
 * slow-consumer policy, authorization (hook or JWT), limits, heartbeats, graceful shutdown and
 * metrics, over a pluggable {@link Broker}. Web standards only: mount `hub.handler` in any
 * runtime (on Node through `ssekit/node`).
 */

export {
  DIRECT_WRITE,
  type DirectAttachment,
  type DirectTarget,
  type DirectWriteHook,
  getDirectWriteHook,
} from '../server/direct-write.js';
export {
  type Authorize,
  type AuthorizeContext,
  type AuthorizeResult,
  type HubAction,
  type JwtAuthorizerOptions,
  type JwtKey,
  jwtAuthorizer,
  tokenFrom,
  topicAllowed,
} from './auth.js';
export {
  type Broker,
  type BrokerEvent,
  type BrokerEventInit,
  type BrokerFeed,
  type BrokerListener,
  createMemoryBroker,
  type HistoryOptions,
  type HistoryPage,
  type MemoryBroker,
  type MemoryBrokerOptions,
} from './broker.js';
export {
  BrokerError,
  type BrokerErrorType,
  HubClosedError,
  HubError,
  HubInputError,
  type HubInputErrorType,
  isBrokerError,
  isHubClosedError,
  isHubError,
  isHubInputError,
} from './errors.js';
export {
  DEFAULT_HISTORY_MAX_AGE,
  DEFAULT_HISTORY_MAX_BYTES,
  DEFAULT_HISTORY_MAX_EVENTS,
  DEFAULT_HISTORY_MAX_TOTAL_BYTES,
  HISTORY_EVENT_OVERHEAD_BYTES,
  type HistoryLimits,
  historyEventBytes,
  mergeById,
  TopicHistory,
} from './history.js';
export {
  type CloseOptions,
  createHub,
  type Hub,
  type HubLimits,
  type HubOptions,
  type PublishEvent,
  RESET_EVENT,
  RESUME_HEADER,
  type ReconnectHint,
  type SubscribeContext,
  type SubscribeOptions,
} from './hub.js';
export { compareStreamIds, isStreamId, StreamIdGenerator } from './ids.js';
export { type HubMetrics, PROMETHEUS_CONTENT_TYPE, toPrometheus } from './metrics.js';
