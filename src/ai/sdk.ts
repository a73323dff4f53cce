/**
 * `ssekit/ai-sdk`: the server side of the AI SDK's chat (`useChat`, `DefaultChatTransport`) on
 * resumable replies. `createChatReplies` serves the endpoints the transport calls (start,
 * resume, and a stop that stops the model call on any instance) in the AI SDK's UI message
 * stream protocol; `uiMessageProducer` and `uiMessageStreamEnd` speak that protocol on replies
 * of your own. The AI SDK is not imported: a chunk is its JSON. Guide: docs/ai-sdk.md.
 */

export {
  type ChatReplies,
  type ChatRepliesOptions,
  type ChatStartOptions,
  createChatReplies,
} from './chat.js';
export {
  type ProduceUIMessages,
  UI_MESSAGE_STREAM_HEADERS,
  type UIMessageChunkLike,
  type UIMessageSource,
  uiMessageProducer,
  uiMessageStreamEnd,
} from './ui-message-stream.js';
