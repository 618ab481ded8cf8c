--[[
  Ends a hold and frees what it holds. One script for the three ways a hold
  ends before a sale: the buyer releases it, the system releases it (a failed
  checkout, even while pinned), or the sweeper reclaims it once expired.
  Idempotent: an ended hold is returned unchanged.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] hold     {ev:E}:hold:<holdId>
  KEYS[3] seats    {ev:E}:seats
  KEYS[4] buyer    {ev:E}:buyer:<buyerId of the hold>
  KEYS[5] exp      {ev:E}:exp
  KEYS[6] version  {ev:E}:version
  KEYS[7] changes  {ev:E}:changes
  KEYS[8] rowhints {ev:E}:rowhints  (freed seats' rows are forgotten)
  KEYS[9] rowcursor {ev:E}:rowcursor (dropped when seats are freed)
  KEYS[10..12]     ga, gaq, gaexp of the hold's section (general admission only)
  ARGV[1] holdId   ARGV[2] buyerId asking ('' for system and expire)
  ARGV[3] mode: 'buyer' | 'system' | 'expire'

  Returns one of
    {'ENDED', state}     state E (it had expired) or R (released); seats freed now
    {'FINAL', state}     already ended earlier: R, E
    {'NOT_FOUND'}  {'NOT_OWNED'}  {'SOLD'}
    {'PINNED'}           mode buyer: a checkout is paying for it
    {'ACTIVE'}           mode expire: not expired (extended meanwhile)
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], exp = KEYS[5],
            version = KEYS[6], changes = KEYS[7], rowhints = KEYS[8], rowcursor = KEYS[9],
            ga = KEYS[10], gaq = KEYS[11], gaexp = KEYS[12] }
local hold_id, asking, mode = ARGV[1], ARGV[2], ARGV[3]

local h = redis.call('HMGET', k.hold, 'buyer', 'kind', 'seats', 'section', 'qty', 'state', 'expires', 'epoch')
if not h[1] then return {'NOT_FOUND'} end
if mode == 'buyer' and asking ~= h[1] then return {'NOT_OWNED'} end
local state = h[6]
if state == 'S' then return {'SOLD'} end
if state == 'R' or state == 'E' or state == 'U' then return {'FINAL', state == 'U' and 'R' or state} end
if h[8] ~= redis.call('HGET', k.meta, 'epoch') then
  -- Dropped by an inventory rebuild: nothing of it is left to free.
  redis.call('HSET', k.hold, 'state', 'R')
  redis.call('ZREM', k.exp, hold_id)
  return {'FINAL', 'R'}
end

local now = now_ms()
local expired = tonumber(h[7]) <= now
if mode == 'expire' and not expired then return {'ACTIVE'} end
if mode == 'buyer' and state == 'P' and not expired then return {'PINNED'} end

local ended = expired and 'E' or 'R'
if h[2] == 'R' then
  local seats = {}
  for seat in string.gmatch(h[3], '[^,]+') do seats[#seats + 1] = seat end
  local values = redis.call('HMGET', k.seats, unpack(seats))
  local suffix = '|' .. hold_id
  local freed = {}
  for i = 1, #seats do
    local v = values[i]
    if v and string.sub(v, 1, 2) ~= 'S|' and string.sub(v, -#suffix) == suffix then freed[#freed + 1] = seats[i] end
  end
  if #freed > 0 then
    redis.call('HDEL', k.seats, unpack(freed))
    forget_row_hints(k.rowhints, k.rowcursor, freed)
    log_change(k.version, k.changes, {'t', 'F', 's', table.concat(freed, ',')})
  end
else
  local qty = tonumber(redis.call('HGET', k.gaq, hold_id))
  if qty then
    redis.call('HDEL', k.gaq, hold_id)
    redis.call('ZREM', k.gaexp, hold_id)
    redis.call('HINCRBY', k.ga, 'held', -qty)
    local g = redis.call('HMGET', k.ga, 'capacity', 'held', 'sold')
    log_change(k.version, k.changes, {'t', 'G', 'g', h[4], 'c', g[1] .. ',' .. g[2] .. ',' .. g[3]})
  end
end
redis.call('HDEL', k.buyer, 'h' .. hold_id)
redis.call('ZREM', k.exp, hold_id)
redis.call('HSET', k.hold, 'state', ended, 'ended', now)
redis.call('PEXPIRE', k.hold, 86400000)
return {'ENDED', ended}
