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
  ARGV[1] buyerId   ARGV[2] mode 'L' | 'C'

  Returns {'OK', previousState, newState}: states as in includes/queue.lua,
  '' when the buyer never joined (nothing changed).
]]
--@include common
--@include queue

local k = { qmeta = KEYS[1], line = KEYS[2], recs = KEYS[3], shop = KEYS[4], fresh = KEYS[5] }
local buyer, mode = ARGV[1], ARGV[2]
local now = now_ms()
local r = parse_rec(redis.call('HGET', k.recs, buyer))
if not r then return {'OK', '', ''} end
local before = r.state
if before == 'A' and r.exp <= now then before = 'E' end

if (before == 'W' and mode == 'L') or before == 'A' then
  redis.call('ZREM', k.line, buyer)
  redis.call('ZREM', k.shop, buyer)
  redis.call('ZREM', k.fresh, buyer)
  r.state = mode
  redis.call('HSET', k.recs, buyer, pack_rec(r))
  redis.call('HINCRBY', k.qmeta, 'ver', 1)
  return {'OK', before, mode}
end
return {'OK', before, before}
