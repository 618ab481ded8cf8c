--[[
  Picks and holds the best `quantity` adjacent free seats, in one step.
  Rows come in order of preference (best first); the first row with a block
  that leaves no single seat stranded on either side wins, and within it the
  block closest to the row's centre. Only when no row has such a block is a
  block that strands a seat taken (the first one found).

  The rows a filter (price category, section, both or neither) may pick from
  are stored once per event in the rows hash, in order of preference, in
  chunks of 32 rows: field "<categoryId>|<sectionId>#<chunk>" (an empty id:
  no filter), value "<prefix>|<firstSeatNumber>|<seatCount>,..." where the
  prefix is the seat id without its number ("A-3-" for A-3-1 .. A-3-30;
  adjacent numbers are adjacent seats). So a call reads the rows it needs,
  not the whole venue, and sends no row list.

  Reading every seat of a row costs Redis more than the hold itself (a
  100-seat row: ~100 us), and late in a big sale most rows are full. So each
  scan leaves
    - a hint per row it read: its largest free block, valid until the earliest
      expiry of a hold in it (when a seat may come free silently); a later
      scan skips a row whose valid hint says the quantity cannot fit;
    - the row's state, one character per seat, valid as long and at most 10 s:
      a later call chooses its block from it and reads only the seats it
      chose; should one of them be taken (a HoldSeats on the row does not
      update the state), it reads the whole row as before;
    - a cursor per filter past the leading rows it found full, valid until
      the earliest expiry of a hold in them; a later scan starts there.
  None may understate what is taken within its validity except by a seat
  freed otherwise, and whatever frees seats otherwise forgets the rows' hints
  and states and every cursor (release_hold, unsell_hold); load_inventory
  drops them all.

  KEYS[1..7] as hold_seats.lua: meta seats hold buyer exp version changes
  KEYS[8]  rowhints  {ev:E}:rowhints   HASH rowPrefix -> largestFreeBlock * 10^13 + validUntilMs,
                                       rowPrefix# -> "<validUntilMs>|<x taken . free, one per seat>"
  KEYS[9]  rows      {ev:E}:rows       HASH as above (written by load_inventory)
  KEYS[10] rowcursor {ev:E}:rowcursor  HASH filter -> "<rows known full>|<validUntilMs>"
  KEYS[11] fresh     as hold_seats.lua (only with a waiting room)
  ARGV[1] holdId (derived from event, buyer and request id)  ARGV[2] buyerId  ARGV[3] quantity
  ARGV[4] filter "<categoryId>|<sectionId>"

  Returns one of
    {'OK', holdId, createdMs, expiresMs, seatId...}
    {'REPLAY', holdId}  the hold exists: this request already made it
    {'NO_EVENT'}  {'SALE', state}
    {'LIMIT', alreadyCounted, limit}
    {'NO_ROWS'}         the event's row lists are missing (written before this
                        script existed): the caller writes them and retries
    {'TAKEN'}           no block of that size is free
]]
--@include common

local k = { meta = KEYS[1], seats = KEYS[2], hold = KEYS[3], buyer = KEYS[4],
            exp = KEYS[5], version = KEYS[6], changes = KEYS[7], rowhints = KEYS[8],
            rows = KEYS[9], rowcursor = KEYS[10] }
local hold_id, buyer_id = ARGV[1], ARGV[2]
local qty = tonumber(ARGV[3])
local filter = ARGV[4]
local CHUNK = 32
-- A hint or cursor is valid until this when no hold limits it (sold seats): until something frees a seat.
local FOREVER = 9999999999999

if redis.call('EXISTS', k.hold) == 1 then return {'REPLAY', hold_id} end
local meta = read_meta(k.meta)
if not meta then return {'NO_EVENT'} end
if meta.state ~= 'OPEN' then return {'SALE', meta.state} end

local now = now_ms()
local count = buyer_count(k.buyer, meta.epoch, now)
if count + qty > meta.limit then return {'LIMIT', tostring(count), tostring(meta.limit)} end

-- Rows before `start` are full until `full_until` (a valid cursor), else start at the first row.
local start, full_until = 0, FOREVER
local cursor = redis.call('HGET', k.rowcursor, filter)
if cursor then
  local c, t = string.match(cursor, '^(%d+)|(%d+)$')
  if c and tonumber(t) > now then start, full_until = tonumber(c), tonumber(t) end
end

-- A hint is one number: largest free block * 10^13 + valid-until ms.
local HINT_BASE = 10000000000000
local function hint_parts(hint)
  local h = hint and tonumber(hint)
  if not h then return nil, nil end
  return math.floor(h / HINT_BASE), h % HINT_BASE
end

-- The ids of seats first .. first+count-1 of a row.
local function seat_ids(prefix, first, count)
  local ids = {}
  for i = 1, count do ids[i] = prefix .. (first + i - 1) end
  return ids
end

-- The best block of a row given which of its n seats are taken: the first
-- seat of the centre-most block that strands no single seat (nil if none),
-- the largest free block, and the first block that strands one (nil if none).
local function pick(taken, n)
  local best, best_distance, largest, stranding = nil, nil, 0, nil
  local i = 1
  while i <= n do
    if taken[i] then
      i = i + 1
    else
      local j = i
      while j < n and not taken[j + 1] do j = j + 1 end
      if j - i + 1 > largest then largest = j - i + 1 end
      for p = i, j - qty + 1 do
        local left, right = p - i, j - (p + qty - 1)
        if left ~= 1 and right ~= 1 then
          local distance = math.abs((p + (qty - 1) / 2) - (n + 1) / 2)
          if not best or distance < best_distance then best, best_distance = p, distance end
        elseif not stranding then
          stranding = p
        end
      end
      i = j + 1
    end
  end
  return best, largest, stranding
end

-- A row's remembered state: "<validUntilMs>|<one char per seat: x taken, . free>".
local STATE_MAX_MS = 10000
local function state_string(taken, n, valid_until)
  local chars = {}
  for i = 1, n do chars[i] = taken[i] and 'x' or '.' end
  return string.format('%d', math.min(valid_until, now + STATE_MAX_MS)) .. '|' .. table.concat(chars)
end

-- Which seats the state says are taken, if it is still valid for a row of n seats.
local function state_taken(state, n)
  if not state then return nil end
  local bar = string.find(state, '|', 1, true)
  if not bar or #state - bar ~= n or tonumber(string.sub(state, 1, bar - 1)) <= now then return nil end
  local taken = {}
  for i = 1, n do taken[i] = string.byte(state, bar + i) == 120 end -- 'x'
  return taken, tonumber(string.sub(state, 1, bar - 1))
end

local chosen, fallback = nil, nil
local learned = {}
-- The leading rows found full so far (row index, 0-based, of the first row not known full).
local full_rows, extending = start, true
local chunk = math.floor(start / CHUNK)
local new_expiry = now + meta.ttl
while not chosen do
  local list = redis.call('HGET', k.rows, filter .. '#' .. chunk)
  if not list then
    if chunk == 0 then return {'NO_ROWS'} end
    break
  end
  local prefixes, firsts, counts = {}, {}, {}
  local index = chunk * CHUNK -- of the chunk's first row
  local skip = start - index  -- rows of this chunk before the cursor
  for prefix, first, n in string.gmatch(list, '([^,|]+)|(%d+)|(%d+)') do
    if skip > 0 then
      skip = skip - 1
      index = index + 1
    else
      prefixes[#prefixes + 1] = prefix
      firsts[#firsts + 1] = tonumber(first)
      counts[#counts + 1] = tonumber(n)
    end
  end
  local hints = #prefixes > 0 and redis.call('HMGET', k.rowhints, unpack(prefixes)) or {}
  for r = 1, #prefixes do
    local prefix, first, n = prefixes[r], firsts[r], counts[r]
    local largest, valid_until = hint_parts(hints[r])
    local scan = n >= qty and (not largest or largest >= qty or valid_until <= now)
    if scan then
      -- First the row's remembered state: choose from it, then check the chosen
      -- seats themselves (a HoldSeats on this row does not update the state).
      local taken, state_until = state_taken(redis.call('HGET', k.rowhints, prefix .. '#'), n)
      if taken then
        local best = pick(taken, n)
        if best then
          local candidate = seat_ids(prefix, first + best - 1, qty)
          local values = redis.call('HMGET', k.seats, unpack(candidate))
          local free = true
          for i = 1, qty do
            if seat_taken(values[i], now) then free = false end
          end
          if free then
            chosen = candidate
            for i = best, best + qty - 1 do taken[i] = true end
            learned[#learned + 1] = prefix .. '#'
            learned[#learned + 1] = state_string(taken, n, math.min(state_until, new_expiry))
            break
          end
        end
      end
      -- Else read every seat of the row: which are taken, and the earliest expiry of a hold among them.
      local ids = seat_ids(prefix, first, n)
      local values = redis.call('HMGET', k.seats, unpack(ids))
      taken = {}
      valid_until = FOREVER
      for i = 1, n do
        local v = values[i]
        if v then
          local expires = seat_expiry(v)
          if expires == nil then
            taken[i] = true
          elseif expires and expires > now then
            taken[i] = true
            if expires < valid_until then valid_until = expires end
          end
        end
      end
      local best, stranding
      best, largest, stranding = pick(taken, n)
      if stranding and not fallback then
        fallback = { seats = {unpack(ids, stranding, stranding + qty - 1)}, prefix = prefix, taken = taken,
                     n = n, first = stranding, valid_until = valid_until }
      end
      if best then
        chosen = {unpack(ids, best, best + qty - 1)}
        for i = best, best + qty - 1 do taken[i] = true end
        learned[#learned + 1] = prefix .. '#'
        learned[#learned + 1] = state_string(taken, n, math.min(valid_until, new_expiry))
        break
      end
      learned[#learned + 1] = prefix
      learned[#learned + 1] = string.format('%d', largest * HINT_BASE + valid_until)
      learned[#learned + 1] = prefix .. '#'
      learned[#learned + 1] = state_string(taken, n, valid_until)
    end
    -- The cursor moves past a row only while every row before it is known full right now.
    if extending then
      if largest == 0 and valid_until > now then
        full_rows = index + r
        if valid_until < full_until then full_until = valid_until end
      else
        extending = false
      end
    end
  end
  chunk = chunk + 1
end
if not chosen and fallback then
  -- No row has a block that strands nobody: the first one found that does, and its row's state knows.
  chosen = fallback.seats
  for i = fallback.first, fallback.first + qty - 1 do fallback.taken[i] = true end
  learned[#learned + 1] = fallback.prefix .. '#'
  learned[#learned + 1] = state_string(fallback.taken, fallback.n, math.min(fallback.valid_until, new_expiry))
end
-- (a field written twice takes the later value: the fallback's row state above)
if #learned > 0 then chunked('HSET', k.rowhints, learned) end
if full_rows > start then redis.call('HSET', k.rowcursor, filter, full_rows .. '|' .. string.format('%d', full_until)) end
if not chosen then return {'TAKEN'} end

local expires = hold_reserved(k, meta, now, hold_id, buyer_id, chosen)
if KEYS[11] then redis.call('ZREM', KEYS[11], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires), unpack(chosen)}
