/**
 * Lua run inside Redis, so each step is atomic with respect to every other client.
 *
 * Key layout (all under the broker's prefix):
 * - `seq`: the id sequence. Every publish `XADD`s an empty entry with `*`, so Redis hands out an
 *   id greater than every id it handed out before (Redis keeps a stream's last id even once the
 *   entry is trimmed). That id then goes, explicitly, to every topic stream of the event: one id
 *   per event, and since every id comes from the same sequence it is always greater than each
 *   topic stream's last id, which `XADD` with an explicit id requires.
 * - `t:<topic>`: the topic's stream; fields `d` (data), `e` (event type, absent for the default)
 *   and `t` (all topics of the event, JSON), trimmed with approximate `MAXLEN`.
 */

/**
 * KEYS[1] = seq, KEYS[2..] = topic streams.
 * ARGV[1] = topic MAXLEN, ARGV[2] = data, ARGV[3] = topics JSON, ARGV[4] = '1' with an event
 * type, ARGV[5] = the event type.
 * Returns the id.
 */
export const PUBLISH_SCRIPT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', '16', '*', 'n', '')
for i = 2, #KEYS do
  if ARGV[4] == '1' then
    redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], id, 'd', ARGV[2], 't', ARGV[3], 'e', ARGV[5])
  else
    redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], id, 'd', ARGV[2], 't', ARGV[3])
  end
end
return id
`;

/**
 * `floor_of(key)`: an id such that a reader whose last id is below it has lost entries to
 * trimming or deletion. Trimming removes from the head, so when the stream ever lost entries
 * (entries-added > length) everything below the first kept entry may be gone; XDEL leaves
 * max-deleted-entry-id. A reader exactly at the last trimmed id is told "truncated" too: the
 * safe side. Shared by the scripts below.
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
    else floor = info['recorded-first-entry-id'] end
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
