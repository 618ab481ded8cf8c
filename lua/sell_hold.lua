--[[
  Marks a hold's seats sold after MySQL committed the sale. MySQL is the
  truth, so this never refuses a committed sale: even a hold whose pin
  expired is sold. Idempotent.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] hold     {ev:E}:hold:<holdId>
  KEYS[3] seats    {ev:E}:seats
  KEYS[4] buyer    {ev:E}:buyer:<buyerId>
  KEYS[5] exp      {ev:E}:exp
  KEYS[6] version  {ev:E}:version
  KEYS[7] changes  {ev:E}:changes
  KEYS[8..10]      ga, gaq, gaexp of the hold's section (general admission only)
  ARGV[1] holdId

  Returns {'OK'}, or {'MISSING'} when the hold is gone or was dropped by a
  rebuild (the caller then repairs only this hold's seats from MySQL: lua/repair_seats.lua).
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], exp = KEYS[5],
            version = KEYS[6], changes = KEYS[7], ga = KEYS[8], gaq = KEYS[9], gaexp = KEYS[10] }
local hold_id = ARGV[1]

local h = redis.call('HMGET', k.hold, 'kind', 'seats', 'section', 'qty', 'state', 'epoch')
if not h[1] then return {'MISSING'} end
if h[5] == 'S' then return {'OK'} end
local epoch = redis.call('HGET', k.meta, 'epoch')
if h[6] ~= epoch then return {'MISSING'} end

local qty = tonumber(h[4])
if h[1] == 'R' then
  local seats, pairs_ = {}, {}
  for seat in string.gmatch(h[2], '[^,]+') do
    seats[#seats + 1] = seat
    pairs_[#pairs_ + 1] = seat
    pairs_[#pairs_ + 1] = 'S|' .. hold_id
  end
  redis.call('HSET', k.seats, unpack(pairs_))
  log_change(k.version, k.changes, {'t', 'S', 's', table.concat(seats, ',')})
else
  local held = tonumber(redis.call('HGET', k.gaq, hold_id))
  if held then
    redis.call('HDEL', k.gaq, hold_id)
    redis.call('ZREM', k.gaexp, hold_id)
    redis.call('HINCRBY', k.ga, 'held', -held)
  end
  redis.call('HINCRBY', k.ga, 'sold', qty)
  local g = redis.call('HMGET', k.ga, 'capacity', 'held', 'sold')
  log_change(k.version, k.changes, {'t', 'G', 'g', h[3], 'c', g[1] .. ',' .. g[2] .. ',' .. g[3]})
end
redis.call('HDEL', k.buyer, 'h' .. hold_id)
redis.call('HINCRBY', k.buyer, 's' .. epoch, qty)
redis.call('ZREM', k.exp, hold_id)
redis.call('HSET', k.hold, 'state', 'S')
return {'OK'}
