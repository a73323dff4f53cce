/** A Redis URL in messages and logs never carries its password. */
import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../src/adapters/redis/url.js';

describe('redactUrl', () => {
  it('replaces the password, keeps the rest', () => {
    expect(redactUrl('redis://user:hunter2@10.0.0.1:6380/2')).toBe('redis://user:***@10.0.0.1:6380/2');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('never prints an unparsable URL as it is: it may hold a password', () => {
    expect(redactUrl('redis://:hunter2@[bad')).toBe('(an unparsable URL)');
  });
});
