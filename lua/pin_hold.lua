--[[
  Pins an active hold for checkout: it will not expire while payment is in
  flight (its expiry moves to now + pinMs, a bound that outlives the
  checkout's payment window). Idempotent: pinning a pinned hold keeps it.
  The sale's state is part of the decision: a closed sale pins no hold (its
  active holds only expire or are released); a paused one still does, since
  pausing stops new holds, not the buyers already paying. A hold pinned
  before the close stays pinned, so its checkout runs to its end.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] hold     {ev:E}:hold:<holdId>
  KEYS[3] seats    {ev:E}:seats
  KEYS[4] buyer    {ev:E}:buyer:<buyerId>
  KEYS[5] exp      {ev:E}:exp
  KEYS[6] gaexp    {ev:E}:ga:<sectionId>:exp (general admission; any key of the event otherwise)
  ARGV[1] holdId   ARGV[2] buyerId   ARGV[3] pinMs

  Returns one of
    {'OK', expiresMs}
    {'NOT_FOUND'}  {'NOT_OWNED'}  {'EXPIRED'}  {'SOLD'}  {'NOT_ACTIVE', state}
    {'SALE', 'CLOSED'}
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], exp = KEYS[5], gaexp = KEYS[6] }
local hold_id, buyer_id, pin_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])

local h = redis.call('HMGET', k.hold, 'buyer', 'kind', 'seats', 'qty', 'state', 'expires', 'epoch')
if not h[1] then return {'NOT_FOUND'} end
if h[1] ~= buyer_id then return {'NOT_OWNED'} end
if h[7] ~= redis.call('HGET', k.meta, 'epoch') then return {'NOT_ACTIVE', 'R'} end
local state, expires = h[5], tonumber(h[6])
if state == 'S' then return {'SOLD'} end
if state == 'R' or state == 'E' or state == 'U' then return {'NOT_ACTIVE', state} end
local now = now_ms()
if expires <= now then return {'EXPIRED'} end
if state == 'P' then return {'OK', tostring(expires)} end
if redis.call('HGET', k.meta, 'state') == 'CLOSED' then return {'SALE', 'CLOSED'} end

local pinned = math.max(expires, now + pin_ms)
retime_hold(k, hold_id, h[2], h[3], h[4], h[7], pinned)
redis.call('HSET', k.hold, 'state', 'P', 'expires', pinned)
return {'OK', tostring(pinned)}
