--[[
  Picks and holds the best `quantity` adjacent free seats, in one step.
  Rows come in order of preference (best first); the first row with a block
  that leaves no single seat stranded on either side wins, and within it the
  block closest to the row's centre. Only when no row has such a block is a
  block that strands a seat taken (the first one found).

  Late in a big sale most rows are full, and reading every seat of every row
  would cost milliseconds of Redis per call. So each scan leaves a hint per
  row it read: its largest free block, valid until the earliest expiry of a
  hold in it (when a seat may come free silently). A later scan skips a row
  whose valid hint says the quantity cannot fit. Hints may only overstate the
  largest block (holds only shrink blocks); whatever frees seats otherwise
  forgets the row's hint (release_hold, unsell_hold), and load_inventory
  drops them all.

  KEYS[1..7] as hold_seats.lua: meta seats hold buyer exp version changes
  KEYS[8] rowhints {ev:E}:rowhints  HASH rowPrefix -> largestFreeBlock * 10^13 + validUntilMs
  KEYS[9] fresh    as hold_seats.lua (only with a waiting room)
  ARGV[1] holdId (derived from event, buyer and request id)  ARGV[2] buyerId  ARGV[3] quantity
  ARGV[4] n: how many rows follow, in order of preference
  ARGV[5 .. 4+n] the rows' seat-id prefixes, e.g. "A-3-"
  ARGV[5+n .. 4+2n] the same rows' "<firstSeatNumber>|<seatCount>", e.g. "1|30" for
            seats A-3-1 .. A-3-30, adjacent numbers adjacent seats

  Returns one of
    {'OK', holdId, createdMs, expiresMs, seatId...}
    {'REPLAY', holdId}  the hold exists: this request already made it
    {'NO_EVENT'}  {'SALE', state}
    {'LIMIT', alreadyCounted, limit}
    {'TAKEN'}           no block of that size is free
]]
--@include common

local k = { meta = KEYS[1], seats = KEYS[2], hold = KEYS[3], buyer = KEYS[4],
            exp = KEYS[5], version = KEYS[6], changes = KEYS[7], rowhints = KEYS[8] }
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

local n_rows = tonumber(ARGV[4])
local hints = {}
for i = 1, n_rows, 1000 do
  local part = redis.call('HMGET', k.rowhints, unpack(ARGV, 4 + i, 4 + math.min(i + 999, n_rows)))
  for j = 1, #part do hints[i + j - 1] = part[j] end
end

-- False when the row's hint says no block of qty is free in it right now.
-- A hint is one number: largest free block * 10^13 + valid-until ms.
local HINT_BASE = 10000000000000
local function may_fit(hint)
  if not hint then return true end
  local h = tonumber(hint)
  if not h then return true end
  return math.floor(h / HINT_BASE) >= qty or h % HINT_BASE <= now
end

local chosen, fallback = nil, nil
local learned = {}
for r = 1, n_rows do
  local prefix, first, n = ARGV[4 + r], nil, 0
  if may_fit(hints[r]) then
    first, n = string.match(ARGV[4 + n_rows + r], '^(%d+)|(%d+)$')
    first, n = tonumber(first), tonumber(n)
  end
  if n >= qty then
    local ids = {}
    for i = 1, n do ids[i] = prefix .. (first + i - 1) end
    local values = redis.call('HMGET', k.seats, unpack(ids))
    local best, best_distance = nil, nil
    local largest, valid_until = 0, 9999999999999 -- no hold in the row: valid until a release forgets it
    local i = 1
    while i <= n do
      if seat_taken(values[i], now) then
        local expires = tonumber(string.match(values[i], '^(%d+)|'))
        if expires and expires < valid_until then valid_until = expires end
        i = i + 1
      else
        local j = i
        while j < n and not seat_taken(values[j + 1], now) do j = j + 1 end
        if j - i + 1 > largest then largest = j - i + 1 end
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
    learned[#learned + 1] = prefix
    learned[#learned + 1] = string.format('%d', largest * HINT_BASE + valid_until)
  end
end
if #learned > 0 then chunked('HSET', k.rowhints, learned) end
chosen = chosen or fallback
if not chosen then return {'TAKEN'} end

local expires = hold_reserved(k, meta, now, hold_id, buyer_id, chosen)
if KEYS[9] then redis.call('ZREM', KEYS[9], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires), unpack(chosen)}
