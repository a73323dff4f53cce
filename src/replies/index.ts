/**
 * `ssekit/replies`: replies that survive the network. A POST starts a producer (the model call)
 * once, detached from the request; its events go to a log on the broker; the reply has a URL
 * (`Content-Location`) where any instance replays it after `Last-Event-ID` (WHATWG HTML §9.2.4)
 * and follows it to its `end` event; `DELETE` stops it from anywhere. Web standards only: mount
 * `start` on your POST route and `handler` on the reply URLs, in any runtime.
 */

export {
  isRepliesError,
  isReplyInputError,
  isReplyStoppedError,
  RepliesError,
  ReplyInputError,
  type ReplyInputErrorType,
  ReplyStoppedError,
} from './errors.js';
export type { RepliesAuthorize, RepliesAuthorizeContext, ReplyAction } from './http.js';
export { END_EVENT, type EndReason } from './log.js';
export { DEFAULT_LIMITS, type RepliesLimits, type RepliesOptions } from './options.js';
export {
  createReplies,
  type Replies,
  type RepliesCloseOptions,
  type RepliesMetrics,
  type StartOptions,
} from './replies.js';
export type { Produce, ReplyContext, ReplyEvent } from './run.js';
