/**
 * `ssekit/redis`: a hub {@link Broker} on Redis Streams, so hub instances on many processes and
 * machines share topics, history and Last-Event-ID resume. Needs the `ioredis` package (an
 * optional peer dependency) and Redis 7 or later.
 */
export type { Broker } from '../../hub/broker.js';
export { createRedisBroker, type RedisBroker, type RedisBrokerOptions } from './broker.js';
