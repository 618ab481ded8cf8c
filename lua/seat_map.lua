--[[
  Reads an event's live seat state at one instant (read only).

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] seats    {ev:E}:seats
  KEYS[3] version  {ev:E}:version
  KEYS[4..]        per general-admission section, three keys: ga, gaq, gaexp

  Returns {nowMs, version, saleState, {seatId, value, ...}, {capacity, held, sold, ...}}
  where held excludes holds that expired by nowMs; the caller reads each
  seat value against nowMs (an expired hold is free). saleState is '' when
  the inventory is not loaded.
]]
--@include common

local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state') or ''
local version = redis.call('GET', KEYS[3]) or '0'
local seats = redis.call('HGETALL', KEYS[2])
local ga = {}
for i = 4, #KEYS, 3 do
  local g = redis.call('HMGET', KEYS[i], 'capacity', 'held', 'sold')
  local held = tonumber(g[2]) or 0
  local expired = redis.call('ZRANGEBYSCORE', KEYS[i + 2], '-inf', now)
  for j = 1, #expired, 1000 do
    local part = {unpack(expired, j, math.min(j + 999, #expired))}
    local quantities = redis.call('HMGET', KEYS[i + 1], unpack(part))
    for q = 1, #part do held = held - (tonumber(quantities[q]) or 0) end
  end
  ga[#ga + 1] = g[1] or '0'
  ga[#ga + 1] = tostring(held)
  ga[#ga + 1] = g[3] or '0'
end
return {tostring(now), version, state, seats, ga}
