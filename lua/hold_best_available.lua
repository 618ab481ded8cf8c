--[[
  Picks and holds the best `quantity` adjacent free seats, in one step.
  Rows come in order of preference (best first); the first row with a block
  that leaves no single seat stranded on either side wins, and within it the
  block closest to the row's centre. Only when no row has such a block is a
  block that strands a seat taken (the first one found).

  KEYS[1..8] as hold_seats.lua: meta seats hold buyer exp version changes [fresh]
  ARGV[1] holdId (derived from event, buyer and request id)  ARGV[2] buyerId  ARGV[3] quantity
  ARGV[4..] rows: "<seatIdPrefix>|<firstSeatNumber>|<seatCount>", e.g. "A-3-|1|30"
            for seats A-3-1 .. A-3-30, adjacent numbers adjacent seats

  Returns one of
    {'OK', holdId, createdMs, expiresMs, seatId...}
    {'REPLAY', holdId}  the hold exists: this request already made it
    {'NO_EVENT'}  {'SALE', state}
    {'LIMIT', alreadyCounted, limit}
    {'TAKEN'}           no block of that size is free
]]
--@include common

local k = { meta = KEYS[1], seats = KEYS[2], hold = KEYS[3], buyer = KEYS[4],
            exp = KEYS[5], version = KEYS[6], changes = KEYS[7] }
local hold_id, buyer_id = ARGV[1], ARGV[2]
local qty = tonumber(ARGV[3])

if redis.call('EXISTS', k.hold) == 1 then return {'REPLAY', hold_id} end
local meta = read_meta(k.meta)
if not meta then return {'NO_EVENT'} end
if meta.state ~= 'OPEN' then return {'SALE', meta.state} end

local now = now_ms()
local count = buyer_count(k.buyer, meta.epoch, now)
if count + qty > meta.limit then return {'LIMIT', tostring(count), tostring(meta.limit)} end

local function block(ids, start)
  local out = {}
  for i = start, start + qty - 1 do out[#out + 1] = ids[i] end
  return out
end

local chosen, fallback = nil, nil
for r = 4, #ARGV do
  local prefix, first, n = string.match(ARGV[r], '^(.*)|(%d+)|(%d+)$')
  first, n = tonumber(first), tonumber(n)
  if n >= qty then
    local ids = {}
    for i = 1, n do ids[i] = prefix .. (first + i - 1) end
    local values = redis.call('HMGET', k.seats, unpack(ids))
    local best, best_distance = nil, nil
    local i = 1
    while i <= n do
      if seat_taken(values[i], now) then
        i = i + 1
      else
        local j = i
        while j < n and not seat_taken(values[j + 1], now) do j = j + 1 end
        for p = i, j - qty + 1 do
          local left, right = p - i, j - (p + qty - 1)
          if left ~= 1 and right ~= 1 then
            local distance = math.abs((p + (qty - 1) / 2) - (n + 1) / 2)
            if not best or distance < best_distance then best, best_distance = p, distance end
          elseif not fallback then
            fallback = block(ids, p)
          end
        end
        i = j + 1
      end
    end
    if best then
      chosen = block(ids, best)
      break
    end
  end
end
chosen = chosen or fallback
if not chosen then return {'TAKEN'} end

local expires = hold_reserved(k, meta, now, hold_id, buyer_id, chosen)
if KEYS[8] then redis.call('ZREM', KEYS[8], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires), unpack(chosen)}
