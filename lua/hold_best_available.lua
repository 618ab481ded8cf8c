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
  ARGV[5] requestHash  the hash of what the request asks for (src/holds/holds.ts)

  Returns one of
    {'OK', holdId, createdMs, expiresMs, seatId...}
    {'REPLAY', holdId}  the hold exists: this request already made it
    {'REUSED', holdId}  the hold exists, made by another request under the
                        same request id (its stored hash differs)
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
local CHUNK = 32 -- rows per field of the rows hash: BEST_AVAILABLE_CHUNK in src/events/layout.ts
-- A hint or cursor is valid until this when no hold limits it (sold seats): until something frees a seat.
local FOREVER = 9999999999999

local seen = replay_or_reused(k.hold, hold_id, ARGV[5])
if seen then return seen end
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

-- The best block of a row from its state (one character per seat, x taken,
-- . free): the first seat of the block closest to the row's centre among
-- those that strand no single free seat (nil if none), the largest free
-- block, and the first seat of the first block that does strand one (nil if
-- none). Free runs come from string.find; within a run the allowed blocks are
-- its two ends and those leaving two or more seats on each side, so each run
-- offers at most three candidates, considered in seat order (ties: the first).
local function pick(row)
  local n = #row
  local best, best_distance, largest, stranding = nil, nil, 0, nil
  local target = (n + 1) / 2 - (qty - 1) / 2 -- first seat of a perfectly centred block
  local function consider(p)
    local distance = math.abs(p - target)
    if not best or distance < best_distance then best, best_distance = p, distance end
  end
  local init = 1
  while true do
    local i, j = string.find(row, '%.+', init)
    if not i then break end
    local len = j - i + 1
    if len > largest then largest = len end
    if len == qty then
      consider(i)
    elseif len == qty + 1 then
      stranding = stranding or i
    elseif len >= qty + 2 then
      stranding = stranding or i + 1
      consider(i)
      local lo, hi = i + 2, j - qty - 1
      if lo <= hi then
        local p = math.floor(target)
        if target - p > 0.5 then p = p + 1 end
        consider(math.min(math.max(p, lo), hi))
      end
      consider(j - qty + 1)
    end
    init = j + 1
  end
  return best, largest, stranding
end

-- The row with seats first .. first+qty-1 marked taken.
local function mark(row, first)
  return string.sub(row, 1, first - 1) .. string.rep('x', qty) .. string.sub(row, first + qty)
end

-- A row's remembered state: "<validUntilMs>|<row>", valid at most STATE_MAX_MS.
local STATE_MAX_MS = 10000
local function state_string(row, valid_until)
  return string.format('%d', math.min(valid_until, now + STATE_MAX_MS)) .. '|' .. row
end

-- The remembered row and its validity, if the state is still valid for a row of n seats.
local function state_row(state, n)
  if not state then return nil end
  local bar = string.find(state, '|', 1, true)
  if not bar or #state - bar ~= n then return nil end
  local valid_until = tonumber(string.sub(state, 1, bar - 1))
  if not valid_until or valid_until <= now then return nil end
  return string.sub(state, bar + 1), valid_until
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
      local row, state_until = state_row(redis.call('HGET', k.rowhints, prefix .. '#'), n)
      if row then
        local best = pick(row)
        if best then
          local candidate = seat_ids(prefix, first + best - 1, qty)
          local values = redis.call('HMGET', k.seats, unpack(candidate))
          local free = true
          for i = 1, qty do
            if seat_taken(values[i], now) then free = false end
          end
          if free then
            chosen = candidate
            learned[#learned + 1] = prefix .. '#'
            learned[#learned + 1] = state_string(mark(row, best), math.min(state_until, new_expiry))
            break
          end
        end
      end
      -- Else read every seat of the row: which are taken, and the earliest expiry of a hold among them.
      local ids = seat_ids(prefix, first, n)
      local values = redis.call('HMGET', k.seats, unpack(ids))
      local chars = {}
      valid_until = FOREVER
      for i = 1, n do
        local v, c = values[i], '.'
        if v then
          local expires = seat_expiry(v)
          if expires == nil then
            c = 'x'
          elseif expires and expires > now then
            c = 'x'
            if expires < valid_until then valid_until = expires end
          end
        end
        chars[i] = c
      end
      row = table.concat(chars)
      local best, stranding
      best, largest, stranding = pick(row)
      if stranding and not fallback then
        fallback = { seats = {unpack(ids, stranding, stranding + qty - 1)}, prefix = prefix, row = row,
                     first = stranding, valid_until = valid_until }
      end
      if best then
        chosen = {unpack(ids, best, best + qty - 1)}
        learned[#learned + 1] = prefix .. '#'
        learned[#learned + 1] = state_string(mark(row, best), math.min(valid_until, new_expiry))
        break
      end
      learned[#learned + 1] = prefix
      learned[#learned + 1] = string.format('%d', largest * HINT_BASE + valid_until)
      learned[#learned + 1] = prefix .. '#'
      learned[#learned + 1] = state_string(row, valid_until)
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
  learned[#learned + 1] = fallback.prefix .. '#'
  learned[#learned + 1] = state_string(mark(fallback.row, fallback.first), math.min(fallback.valid_until, new_expiry))
end
-- (a field written twice takes the later value: the fallback's row state above)
if #learned > 0 then chunked('HSET', k.rowhints, learned) end
if full_rows > start then redis.call('HSET', k.rowcursor, filter, full_rows .. '|' .. string.format('%d', full_until)) end
if not chosen then return {'TAKEN'} end

local expires = hold_reserved(k, meta, now, hold_id, buyer_id, ARGV[5], chosen)
if KEYS[11] then redis.call('ZREM', KEYS[11], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires), unpack(chosen)}
