--[[
  Pins the holds of one order for checkout, all or none: none of them will
  expire while payment is in flight (each expiry moves to now + pinMs, a
  bound that outlives the checkout's payment window). Every hold is checked
  before any is pinned, so a hold that cannot be pinned leaves the others
  as they were. Idempotent: a hold this order pinned stays pinned; a hold
  another order pinned is refused (NOT_ACTIVE 'P'), so a hold is paid for by
  one order at a time. A hold pinned before holds recorded their order is
  its single-hold order's ('o_' .. the hold id without 'h_').
  The sale's state is part of the decision: a closed sale pins no hold (its
  active holds only expire or are released); a paused one still does, since
  pausing stops new holds, not the buyers already paying. A hold pinned
  before the close stays pinned, so its checkout runs to its end.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] seats    {ev:E}:seats
  KEYS[3] buyer    {ev:E}:buyer:<buyerId>
  KEYS[4] exp      {ev:E}:exp
  KEYS[5..]        two per hold, in ARGV's order: for hold i (1..n), KEYS[3+2i] {ev:E}:hold:<holdId>
                   and KEYS[4+2i] {ev:E}:ga:<sectionId>:exp (a general-admission hold's; any key of the event otherwise)
  ARGV[1] buyerId  ARGV[2] pinMs  ARGV[3] orderId  ARGV[4..3+n] holdIds (n >= 1)

  Returns one of
    {'OK', expiresMs...}   one per hold, in ARGV order
    the first refusal, naming its hold:
    {'NOT_FOUND', holdId}  {'NOT_OWNED', holdId}  {'EXPIRED', holdId}  {'SOLD', holdId}
    {'NOT_ACTIVE', holdId, state}  {'SALE', holdId, 'CLOSED'}
]]
--@include common

local buyer_id, pin_ms, order_id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local n = #ARGV - 3
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local closed = redis.call('HGET', KEYS[1], 'state') == 'CLOSED'
local now = now_ms()

local holds = {}
for i = 1, n do
  local hold_id = ARGV[3 + i]
  local hk = KEYS[3 + 2 * i]
  local h = redis.call('HMGET', hk, 'buyer', 'kind', 'seats', 'qty', 'state', 'expires', 'epoch', 'order')
  if not h[1] then return {'NOT_FOUND', hold_id} end
  if h[1] ~= buyer_id then return {'NOT_OWNED', hold_id} end
  if h[7] ~= epoch then return {'NOT_ACTIVE', hold_id, 'R'} end
  local state, expires = h[5], tonumber(h[6])
  if state == 'S' then return {'SOLD', hold_id} end
  if state == 'R' or state == 'E' or state == 'U' then return {'NOT_ACTIVE', hold_id, state} end
  if expires <= now then return {'EXPIRED', hold_id} end
  if state == 'P' then
    local pinned_by = h[8] or ('o_' .. string.gsub(hold_id, '^h_', ''))
    if pinned_by ~= order_id then return {'NOT_ACTIVE', hold_id, 'P'} end
  elseif closed then
    return {'SALE', hold_id, 'CLOSED'}
  end
  holds[i] = { id = hold_id, key = hk, gaexp = KEYS[4 + 2 * i], h = h }
end

local reply = {'OK'}
for i = 1, n do
  local x = holds[i]
  local expires = tonumber(x.h[6])
  if x.h[5] ~= 'P' then
    expires = math.max(expires, now + pin_ms)
    local k = { seats = KEYS[2], buyer = KEYS[3], exp = KEYS[4], gaexp = x.gaexp }
    retime_hold(k, x.id, x.h[2], x.h[3], x.h[4], x.h[7], expires)
    redis.call('HSET', x.key, 'state', 'P', 'expires', expires, 'order', order_id)
  end
  reply[#reply + 1] = tostring(expires)
end
return reply
