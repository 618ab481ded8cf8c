--[[
  Ends a buyer's place or shopping session at once, freeing the slot:
  LeaveQueue (mode 'L': waiting or shopping -> left) or a completed order
  (mode 'C': shopping -> completed). Idempotent: a buyer in a final state is
  returned unchanged.

  KEYS[1] qmeta  {ev:E}:q:meta
  KEYS[2] line   {ev:E}:q:line
  KEYS[3] recs   {ev:E}:q:recs
  KEYS[4] shop   {ev:E}:q:shop
  KEYS[5] fresh  {ev:E}:q:fresh
  KEYS[6] lefts  {ev:E}:q:lefts  (LIST: the score of each place given up in the
                 line, the newest last, the last 10,000 kept, for a day after
                 the last one; qmeta `left` counts them all: lua/queue_poll.lua
                 follows known places through them)
  KEYS[7] seen   {ev:E}:q:seen  (the buyer's entry goes: it is kept for buyers in the line only)
  ARGV[1] buyerId   ARGV[2] mode 'L' | 'C'

  Returns {'OK', previousState, newState}: states as in includes/queue.lua,
  '' when the buyer never joined (nothing changed).
]]
--@include common
--@include queue

local k = { qmeta = KEYS[1], line = KEYS[2], recs = KEYS[3], shop = KEYS[4], fresh = KEYS[5], lefts = KEYS[6],
            seen = KEYS[7] }
local LEFTS_KEPT, LEFTS_TTL_MS = 10000, 86400000
local buyer, mode = ARGV[1], ARGV[2]
local now = now_ms()
local r = parse_rec(redis.call('HGET', k.recs, buyer))
if not r then return {'OK', '', ''} end
local before = r.state
if before == 'A' and r.exp <= now then before = 'E' end

if (before == 'W' and mode == 'L') or before == 'A' then
  -- a place given up in the line: the buyers behind it move up one (lua/queue_poll.lua)
  if redis.call('ZREM', k.line, buyer) == 1 then
    redis.call('HINCRBY', k.qmeta, 'left', 1)
    redis.call('RPUSH', k.lefts, fmt(r.score))
    redis.call('LTRIM', k.lefts, -LEFTS_KEPT, -1)
    redis.call('PEXPIRE', k.lefts, LEFTS_TTL_MS)
  end
  redis.call('ZREM', k.shop, buyer)
  redis.call('ZREM', k.fresh, buyer)
  redis.call('HDEL', k.seen, buyer)
  r.state = mode
  redis.call('HSET', k.recs, buyer, pack_rec(r))
  redis.call('HINCRBY', k.qmeta, 'ver', 1)
  return {'OK', before, mode}
end
return {'OK', before, before}
