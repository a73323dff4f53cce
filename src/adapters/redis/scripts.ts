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
 * - `l:<topic>`: the stream's byte log, a list with one `<id> <bytes>` element per entry, oldest
 *   first, and `b:<topic>` the sum of those bytes. Trimming pops the log from the head and then
 *   trims the stream to the log's first id, so the stream always holds exactly the logged
 *   entries, within both bounds: Redis cannot tell how many bytes entries it trimmed by itself
 *   held (`XADD MAXLEN ~` drops whole nodes), so the script does all the trimming.
 */

/**
 * KEYS[1] = seq; for the i-th of n topics, KEYS[1 + i] = its stream, KEYS[1 + n + i] = its byte
 * log, KEYS[1 + 2n + i] = its byte count.
 * ARGV[1] = most entries per stream, ARGV[2] = most bytes per stream ('' for no bound),
 * ARGV[3] = data, ARGV[4] = topics JSON, ARGV[5] = '1' with an event type, ARGV[6] = the event
 * type. Returns the id.
 *
 * An entry counts the bytes of its data, event type, topics JSON and id, plus a fixed overhead
 * for the rest (field names, `p`, its element in the log). The newest entry of a stream is
 * always kept, even alone over the byte bound: the live feed reads events from the stream.
 * Entries written before the stream had a log (by an older ssekit) go on its first publish.
 */
export const PUBLISH_SCRIPT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', '16', '*', 'n', '')
local n = (#KEYS - 1) / 3
local max_len = tonumber(ARGV[1])
local max_bytes = tonumber(ARGV[2])
local size = #ARGV[3] + #ARGV[4] + #id + ${HISTORY_EVENT_OVERHEAD_BYTES}
if ARGV[5] == '1' then size = size + #ARGV[6] end
for i = 1, n do
  local stream, log, count = KEYS[1 + i], KEYS[1 + n + i], KEYS[1 + 2 * n + i]
  local fields = { 'd', ARGV[3], 't', ARGV[4] }
  if ARGV[5] == '1' then
    fields[#fields + 1] = 'e'
    fields[#fields + 1] = ARGV[6]
  end
  local last = redis.call('LINDEX', log, -1)
  if last then
    fields[#fields + 1] = 'p'
    fields[#fields + 1] = string.match(last, '^%S+')
  end
  redis.call('XADD', stream, id, unpack(fields))
  local len = redis.call('RPUSH', log, id .. ' ' .. size)
  local held = redis.call('INCRBY', count, size)
  local trim = len == 1 and redis.call('XLEN', stream) > 1
  while len > 1 and (len > max_len or (max_bytes ~= nil and held > max_bytes)) do
    held = held - tonumber(string.match(redis.call('LPOP', log), '%d+$'))
    len = len - 1
    trim = true
  end
  if trim then
    redis.call('SET', count, held)
    redis.call('XTRIM', stream, 'MINID', string.match(redis.call('LINDEX', log, 0), '^%S+'))
  end
end
return id
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
 * History page. KEYS[1] = seq, KEYS[2..] = topic streams. ARGV[1] = exclusive start id,
 * ARGV[2] = COUNT per stream.
 * Returns { head, { floor, maxDeleted, entries }... }: head is the last id the sequence handed
 * out; see FLOOR for the other two.
 */
export const HISTORY_SCRIPT = `${FLOOR}
local out = { head_of(KEYS[1]) }
for i = 2, #KEYS do
  local f = floor_of(KEYS[i])
  local entries = redis.call('XRANGE', KEYS[i], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
  out[#out + 1] = { f[1], f[2], entries }
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
