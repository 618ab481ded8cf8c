--[[
  Puts a sold hold's seats back on sale after MySQL recorded the refund.
  Idempotent: a hold already put back is left alone.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] hold     {ev:E}:hold:<holdId>
  KEYS[3] seats    {ev:E}:seats
  KEYS[4] buyer    {ev:E}:buyer:<buyerId>
  KEYS[5] version  {ev:E}:version
  KEYS[6] changes  {ev:E}:changes
  KEYS[7] rowhints {ev:E}:rowhints  (freed seats' rows are forgotten)
  KEYS[8] rowcursor {ev:E}:rowcursor (dropped when seats are freed)
  KEYS[9]          ga of the hold's section (general admission only)
  ARGV[1] holdId

  Returns {'OK'}, or {'MISSING'} when the hold is gone or from an older
  epoch (the caller then repairs only this hold's seats from MySQL: lua/repair_seats.lua).
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], version = KEYS[5],
            changes = KEYS[6], rowhints = KEYS[7], rowcursor = KEYS[8], ga = KEYS[9] }
local hold_id = ARGV[1]

local h = redis.call('HMGET', k.hold, 'kind', 'seats', 'section', 'qty', 'state', 'epoch')
if not h[1] then return {'MISSING'} end
if h[5] == 'U' then return {'OK'} end
local epoch = redis.call('HGET', k.meta, 'epoch')
if h[5] ~= 'S' or h[6] ~= epoch then return {'MISSING'} end

local qty = tonumber(h[4])
if h[1] == 'R' then
  local mine = 'S|' .. hold_id
  local seats = {}
  for seat in string.gmatch(h[2], '[^,]+') do seats[#seats + 1] = seat end
  local values = redis.call('HMGET', k.seats, unpack(seats))
  local freed = {}
  for i = 1, #seats do
    if values[i] == mine then freed[#freed + 1] = seats[i] end
  end
  if #freed > 0 then
    redis.call('HDEL', k.seats, unpack(freed))
    forget_row_hints(k.rowhints, k.rowcursor, freed)
    log_change(k.version, k.changes, {'t', 'F', 's', table.concat(freed, ',')})
  end
else
  redis.call('HINCRBY', k.ga, 'sold', -qty)
  local g = redis.call('HMGET', k.ga, 'capacity', 'held', 'sold')
  log_change(k.version, k.changes, {'t', 'G', 'g', h[3], 'c', g[1] .. ',' .. g[2] .. ',' .. g[3]})
end
redis.call('HINCRBY', k.buyer, 's' .. epoch, -qty)
-- U: unsold (refunded); reads as RELEASED.
redis.call('HSET', k.hold, 'state', 'U')
return {'OK'}
