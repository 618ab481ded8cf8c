--[[
  Shared by the hold scripts; the loader (src/adapters/redis/runner.ts)
  pastes it where a script says `--@include common`.

  Values it understands:
    seats hash   seatId -> "<expiresMs>|<holdId>" (held or pinned), "S|<holdId>" (sold)
    buyer hash   s<epoch> -> seats bought; h<holdId> -> "<epoch>|<qty>|<expiresMs>"
    hold hash    buyer kind(R|G) seats section qty state(A|P|S|R|E|U: sold then refunded) created
                 expires ext maxext deadline epoch req order
                 Its id derives from (event, buyer, request id) (src/holds/holds.ts), so
                 the hold key is also the record that makes a hold request idempotent;
                 req is the hash of the request that made it (what was asked for), so a
                 request id reused for another request is told apart from a retry;
                 order is the order that pinned it (lua/pin_hold.lua).
  The clock is Redis TIME: one clock for every API instance.
]]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Runs `command key a1 a2 ...` in chunks so long lists never overflow unpack.
local function chunked(command, key, list, step)
  step = step or 1000
  for i = 1, #list, step do
    redis.call(command, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end

-- When a seat's hold expires: false when free (no value), nil when sold
-- ("S|<holdId>"), else the expiry of "<expiresMs>|<holdId>". Plain find and
-- sub, no pattern: the best-available scan calls it for every seat of a row.
local function seat_expiry(value)
  if not value then return false end
  if string.byte(value, 1) == 83 then return nil end -- 'S'
  local bar = string.find(value, '|', 1, true)
  return bar and tonumber(string.sub(value, 1, bar - 1)) or false
end

-- A seat is taken when sold or held by a hold that has not expired yet.
local function seat_taken(value, now)
  local expires = seat_expiry(value)
  if expires == nil then return true end -- sold
  return expires ~= false and expires > now
end

-- Seats the buyer bought plus those they hold unexpired in this epoch;
-- entries of expired holds and older epochs are pruned on the way.
local function buyer_count(buyer_key, epoch, now)
  local fields = redis.call('HGETALL', buyer_key)
  local count, stale = 0, {}
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local kind = string.sub(field, 1, 1)
    if kind == 's' then
      if field == 's' .. epoch then count = count + tonumber(value) else stale[#stale + 1] = field end
    elseif kind == 'h' then
      local e, q, x = string.match(value, '^(%d+)|(%d+)|(%d+)$')
      if e == epoch and tonumber(x) > now then count = count + tonumber(q) else stale[#stale + 1] = field end
    end
  end
  if #stale > 0 then redis.call('HDEL', buyer_key, unpack(stale)) end
  return count
end

-- Bumps the seat-map version and appends the change for watchers.
local function log_change(version_key, changes_key, fields)
  local version = redis.call('INCR', version_key)
  redis.call('XADD', changes_key, 'MAXLEN', '~', 10000, version .. '-0', unpack(fields))
  return version
end

-- Seats freed other than by expiry (release, refund) may open blocks in their
-- rows: forget those rows' best-available hints and remembered states, and
-- every filter's cursor past the leading full rows (see hold_best_available.lua).
-- Seat ids are "<section>-<row>-<number>", the row's prefix is all but the number.
local function forget_row_hints(hints_key, cursor_key, seats)
  local rows, seen = {}, {}
  for i = 1, #seats do
    local prefix = string.match(seats[i], '^(.*%-)%d+$')
    if prefix and not seen[prefix] then
      seen[prefix] = true
      rows[#rows + 1] = prefix
      rows[#rows + 1] = prefix .. '#' -- the row's remembered state
    end
  end
  if #rows > 0 then
    chunked('HDEL', hints_key, rows)
    redis.call('DEL', cursor_key)
  end
end

-- Frees general-admission quantity of holds that expired by `now`.
local function reclaim_ga(ga_key, gaq_key, gaexp_key, now)
  local expired = redis.call('ZRANGEBYSCORE', gaexp_key, '-inf', now)
  if #expired == 0 then return 0 end
  local total = 0
  for i = 1, #expired, 1000 do
    local part = {unpack(expired, i, math.min(i + 999, #expired))}
    local quantities = redis.call('HMGET', gaq_key, unpack(part))
    for j = 1, #part do total = total + (tonumber(quantities[j]) or 0) end
  end
  chunked('HDEL', gaq_key, expired)
  chunked('ZREM', gaexp_key, expired)
  redis.call('HINCRBY', ga_key, 'held', -total)
  return total
end

-- A hold request whose hold exists already: {'REPLAY', holdId} when the hold
-- was made by this same request (same hash, or a hold made before holds kept
-- one), {'REUSED', holdId} when its request id was used for another request.
-- nil when there is no such hold yet.
local function replay_or_reused(hold_key, hold_id, req_hash)
  if redis.call('EXISTS', hold_key) == 0 then return nil end
  local prior = redis.call('HGET', hold_key, 'req')
  if prior and prior ~= req_hash then return {'REUSED', hold_id} end
  return {'REPLAY', hold_id}
end

-- Reads meta; returns nil when the event's inventory is not loaded.
local function read_meta(meta_key)
  local m = redis.call('HMGET', meta_key, 'state', 'ttl', 'limit', 'epoch', 'maxext', 'maxlife')
  if not m[1] or not m[4] then return nil end
  return { state = m[1], ttl = tonumber(m[2]), limit = tonumber(m[3]), epoch = m[4],
           maxext = m[5], maxlife = tonumber(m[6]) }
end

-- Records a new active hold and everything that indexes it; req_hash is the
-- hash of the request that made it (see replay_or_reused).
local function create_hold(k, meta, now, hold_id, buyer_id, req_hash, fields, qty)
  local expires = now + meta.ttl
  local deadline = now + meta.maxlife
  redis.call('HSET', k.hold, 'buyer', buyer_id, 'state', 'A', 'qty', qty, 'created', now,
    'expires', expires, 'ext', 0, 'maxext', meta.maxext, 'deadline', deadline,
    'epoch', meta.epoch, 'req', req_hash, unpack(fields))
  -- Kept a day past its last possible end: retries of the request find it.
  redis.call('PEXPIREAT', k.hold, deadline + 86400000)
  redis.call('HSET', k.buyer, 'h' .. hold_id, meta.epoch .. '|' .. qty .. '|' .. expires)
  redis.call('ZADD', k.exp, expires, hold_id)
  return expires
end

-- Holds `seats` (all free) for a new hold; returns its expiry.
local function hold_reserved(k, meta, now, hold_id, buyer_id, req_hash, seats)
  local expires = create_hold(k, meta, now, hold_id, buyer_id, req_hash,
    {'kind', 'R', 'seats', table.concat(seats, ',')}, #seats)
  local value = expires .. '|' .. hold_id
  local pairs_ = {}
  for i = 1, #seats do
    pairs_[#pairs_ + 1] = seats[i]
    pairs_[#pairs_ + 1] = value
  end
  redis.call('HSET', k.seats, unpack(pairs_))
  log_change(k.version, k.changes, {'t', 'H', 's', table.concat(seats, ',')})
  return expires
end

-- Moves an active hold's expiry everywhere it is recorded: its seats (or its
-- general-admission entry), the buyer's count and the event's expiry index.
-- kind, seats, qty and epoch come from the hold hash, which the caller updates.
local function retime_hold(k, hold_id, kind, seats, qty, epoch, expires)
  if kind == 'R' then
    local value = expires .. '|' .. hold_id
    local pairs_ = {}
    for seat in string.gmatch(seats, '[^,]+') do
      pairs_[#pairs_ + 1] = seat
      pairs_[#pairs_ + 1] = value
    end
    redis.call('HSET', k.seats, unpack(pairs_))
  else
    redis.call('ZADD', k.gaexp, 'XX', expires, hold_id)
  end
  redis.call('HSET', k.buyer, 'h' .. hold_id, epoch .. '|' .. qty .. '|' .. expires)
  redis.call('ZADD', k.exp, 'XX', expires, hold_id)
end
