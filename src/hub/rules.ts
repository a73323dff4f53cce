/**
 * What the hub accepts as a topic and as an event: one owner for both, used by publish (from
 * code and over HTTP) and subscribe alike. Event fields follow the encoder's own rules
 * (`checkEventType`, `checkData`), so an event the hub stores can always be encoded: a bad one
 * is refused at the door, never found later inside the feed.
 */

import { checkData, checkEventType } from '../protocol/encode.js';
import { EncodeError } from '../protocol/errors.js';
import { LONE_SURROGATE } from '../server/last-event-id.js';
import { HubInputError } from './errors.js';

export interface TopicRules {
  readonly maxTopics: number;
  readonly maxTopicLength: number;
}

// C0 controls and DEL: they would break logs, keys and header-like uses of a topic name.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The unique topics of a list, or a {@link HubInputError}: at least one, at most `maxTopics`,
 * each a non-empty string of at most `maxTopicLength` characters, without control characters or
 * lone surrogates.
 */
export function checkTopics(list: readonly unknown[], rules: TopicRules): string[] {
  if (list.length === 0) throw new HubInputError('no-topics', 'at least one topic is required');
  const unique = [...new Set(list)];
  if (unique.length > rules.maxTopics) {
    throw new HubInputError('too-many-topics', `at most ${rules.maxTopics} topics are allowed`);
  }
  for (const topic of unique) {
    if (typeof topic !== 'string' || topic === '' || topic.length > rules.maxTopicLength) {
      throw new HubInputError(
        'invalid-topic',
        `a topic must be a non-empty string of at most ${rules.maxTopicLength} characters`,
      );
    }
    if (CONTROL.test(topic))
      throw new HubInputError('invalid-topic', 'a topic must not contain control characters');
    // A lone surrogate cannot be written as UTF-8: such a topic could be published to from code
    // but never subscribed to over HTTP (the query string would turn it into U+FFFD).
    if (LONE_SURROGATE.test(topic)) {
      throw new HubInputError('invalid-topic', 'a topic must be valid Unicode (no lone surrogates)');
    }
  }
  return unique as string[];
}

/** An event to publish, checked by the encoder's rules; a {@link HubInputError} otherwise. */
export function checkEvent(init: unknown): { event: string | undefined; data: string } {
  if (typeof init !== 'object' || init === null) {
    throw new HubInputError('invalid-event', 'an event must be a string or { event?, data }');
  }
  const { event, data } = init as { event?: unknown; data?: unknown };
  try {
    checkData(data);
    if (event !== undefined) checkEventType(event);
  } catch (error) {
    if (error instanceof EncodeError)
      throw new HubInputError('invalid-event', error.message, { cause: error });
    throw error;
  }
  return { event: event as string | undefined, data: data as string };
}
