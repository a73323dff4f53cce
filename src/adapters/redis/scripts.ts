import { HISTORY_EVENT_OVERHEAD_BYTES } from '../../hub/history.js';

/**
 * Lua run inside Redis, so each step is atomic with respect to every other client.
 *
 * Key layout (all under the broker's prefix):
 * - `seq`: the id sequence. Every publish `XADD`s an empty entry with `*`, so Redis hands out an
 *   id greater than every id it handed out before (Redis keeps a stream's last id even once the
 *   entry is trimmed). That id then goes, explicitly, to every topic stream of the event: one id
 *   per event, and since every id comes from the same sequence it is always greater than each
 *   topic stream's last id, which `XADD` with an explicit id requires.
 * - `t:<topic>`: the topic's stream; fields `d` (data), `e` (event type, absent for the default),
 *   `t` (all topics of the event, JSON) and `p` (the id of the entry before it in this stream:
 *   a reader that gets an entry whose `p` is above the id it read from knows entries between
 *   were trimmed before it read them).
 * - `l:<topic>`: the stream's log, a list with one `<id> <bytes> <held>` element per entry, oldest
 *   first: the entry's bytes, and (valid in the last element only) the bytes the stream holds.
 *   Trimming pops the log from the head and then trims the stream to the log's first id, so the
 *   stream holds exactly the logged entries. The script does all the trimming: Redis could not
 *   say how many bytes the entries it trimmed by itself held (`XADD MAXLEN ~` drops whole nodes).
 */

/**
 * A batch of events, published in order (each gets the next id of the sequence).
 * KEYS[1] = seq; then, event after event, its n topics' streams and then their logs.
 * ARGV[1] = most entries per stream, ARGV[2] = most bytes per stream ('' for no bound); then
 * five per event: n, data, topics JSON, '1' with an event type, the event type. Returns the ids.
 *
 * One script call for the events a broker gathered in one turn of the event loop (broker.ts):
 * one round trip and one command for many events (the many tokens of many replies).
 *
 * An entry counts the bytes of its data, event type, topics JSON and id, plus a fixed overhead
 * for the rest (field names, `p`, its element in the log). The newest entry of a stream is
 * always kept, even alone over the byte bound: the live feed reads events from the stream.
 * Entries written before the stream had a log (by an older ssekit) go on its first publish.
 *
 * Trimming runs in batches, so most publishes need none: once a stream is over a bound, it goes
 * to under the bound, then on to 1/16 below it (at most 64 entries more). A stream never holds
 * more than either bound; it holds about 94% to 100% of the one it reaches.
 *
 * Each stream it writes to is also named on Pub/Sub (channel = the stream's key, message = the
 * id), which is how the live feeds learn which streams to read (broker.ts).
 */
export const PUBLISH_SCRIPT = `
local max_len = tonumber(ARGV[1])
local max_bytes = tonumber(ARGV[2])
local low_len = max_len - math.min(64, math.ceil(max_len / 16))
local low_bytes = max_bytes and max_bytes - math.floor(max_bytes / 16)
local ids = {}
local k, a = 1, 2
while a < #ARGV do
  local n = tonumber(ARGV[a + 1])
  local data, topics, has_event, event = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4] == '1', ARGV[a + 5]
  a = a + 5
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', '16', '*', 'n', '')
  ids[#ids + 1] = id
  local size = #data + #topics + #id + ${HISTORY_EVENT_OVERHEAD_BYTES}
  if has_event then size = size + #event end
  for i = 1, n do
    local stream, log = KEYS[k + i], KEYS[k + n + i]
    local last = redis.call('LINDEX', log, -1)
    local held = size
    if last then
      local previous, _, before = string.match(last, '^(%S+) (%d+) (%d+)$')
      held = held + tonumber(before)
      if has_event then redis.call('XADD', stream, id, 'd', data, 't', topics, 'e', event, 'p', previous)
      else redis.call('XADD', stream, id, 'd', data, 't', topics, 'p', previous) end
    elseif has_event then redis.call('XADD', stream, id, 'd', data, 't', topics, 'e', event)
    else redis.call('XADD', stream, id, 'd', data, 't', topics) end
    local len = redis.call('RPUSH', log, string.format('%s %d %d', id, size, held))
    if len == 1 and redis.call('XLEN', stream) > 1 then redis.call('XTRIM', stream, 'MINID', id) end
    if len > max_len or (max_bytes and held > max_bytes) then
      local popped, extra, first = 0, 0, nil
      while first == nil do
        local batch = redis.call('LRANGE', log, popped, popped + 63)
        if #batch == 0 then first = id end -- cannot happen (the newest is never popped); stays finite
        for _, element in ipairs(batch) do
          local entry, bytes = string.match(element, '^(%S+) (%d+)')
          local left = len - popped
          if left == 1 then first = entry break end
          if left <= max_len and not (max_bytes and held > max_bytes) then
            if extra == 64 or (left <= low_len and not (max_bytes and held > low_bytes)) then first = entry break end
            extra = extra + 1
          end
          held = held - tonumber(bytes)
          popped = popped + 1
        end
      end
      redis.call('LTRIM', log, popped, -1)
      redis.call('LSET', log, -1, string.format('%s %d %d', id, size, held))
      redis.call('XTRIM', stream, 'MINID', first)
    end
    redis.call('PUBLISH', stream, id)
  end
  k = k + 2 * n
end
return ids
`;

/**
 * `floor_of(key)`: an id such that a reader whose last id is below it has lost entries to
 * trimming or deletion. Trimming removes from the head, so when the stream ever lost entries
 * (entries-added > length) everything below the first kept entry may be gone; the first entry's
 * `p` names the newest of them, which makes the floor exact (a reader at that id lost nothing).
 * Without `p` (an entry from an older ssekit) the first kept id is the floor: a reader exactly at
 * the last trimmed id is then told "truncated" too, the safe side. XDEL leaves
 * max-deleted-entry-id. Shared by the scripts below.
 */
const FLOOR = `
local function info_of(key)
  if redis.call('EXISTS', key) == 0 then return nil end
  local raw = redis.call('XINFO', 'STREAM', key)
  local info = {}
  for i = 1, #raw, 2 do info[raw[i]] = raw[i + 1] end
  return info
end
local function floor_of(key)
  local info = info_of(key)
  if info == nil then return { '0-0', '0-0' } end
  local floor = '0-0'
  if tonumber(info['entries-added']) > tonumber(info['length']) then
    if tonumber(info['length']) == 0 then floor = info['last-generated-id']
    else
      floor = info['recorded-first-entry-id']
      local fields = info['first-entry'][2]
      for i = 1, #fields, 2 do
        if fields[i] == 'p' then floor = fields[i + 1] end
      end
    end
  end
  return { floor, info['max-deleted-entry-id'] }
end
local function head_of(key)
  local info = info_of(key)
  if info == nil then return '0-0' end
  return info['last-generated-id']
end
`;

/**
 * History pages: one or more reads (broker.ts gathers the reads asked for together, such as a
 * reply's state and its log's first page, into one call: one round trip). KEYS[1] = seq, then
 * each read's topic streams in turn. ARGV: three per read: its number of streams n, its
 * exclusive start id, its COUNT per stream.
 * Returns { head, { floor, maxDeleted, entries }... }, one triple per stream in KEYS order: head
 * is the last id the sequence handed out (one head for all the reads); see FLOOR for the rest.
 */
export const HISTORY_SCRIPT = `${FLOOR}
local out = { head_of(KEYS[1]) }
local k = 2
for a = 1, #ARGV, 3 do
  local n = tonumber(ARGV[a])
  for i = k, k + n - 1 do
    local f = floor_of(KEYS[i])
    local entries = redis.call('XRANGE', KEYS[i], '(' .. ARGV[a + 1], '+', 'COUNT', ARGV[a + 2])
    out[#out + 1] = { f[1], f[2], entries }
  end
  k = k + n
end
return out
`;

/**
 * The sequence's last id (where a new follower starts reading) and, for each topic stream in
 * KEYS[2..], its { floor, maxDeleted } (to tell whether a reader that was away lost anything).
 */
export const HEAD_SCRIPT = `${FLOOR}
local out = { head_of(KEYS[1]) }
for i = 2, #KEYS do
  out[#out + 1] = floor_of(KEYS[i])
end
return out
`;

/**
 * Expires KEYS (a topic's stream and its byte log, for each topic) ARGV[1] ms from now, `0`
 * deleting them at once: one command for all of them.
 */
export const EXPIRE_SCRIPT = `
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return #KEYS
`;
