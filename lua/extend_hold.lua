--[[
  Extends an active hold by the event's hold time-to-live, at most `maxext`
  times and never past its deadline (created + the event's max lifetime).
  Idempotent by request id.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] hold     {ev:E}:hold:<holdId>
  KEYS[3] seats    {ev:E}:seats
  KEYS[4] buyer    {ev:E}:buyer:<buyerId>
  KEYS[5] exp      {ev:E}:exp
  KEYS[6] extreq   {ev:E}:ext:<holdId>:<requestId>
  KEYS[7] gaexp    {ev:E}:ga:<sectionId>:exp (general admission only)
  ARGV[1] holdId   ARGV[2] buyerId

  Returns one of
    {'OK', expiresMs}  {'REPLAY'}
    {'NOT_FOUND'}  {'NOT_OWNED'}  {'EXPIRED'}  {'NOT_ACTIVE', state}
    {'LIMIT', 'extensions' | 'lifetime'}
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], exp = KEYS[5],
            extreq = KEYS[6], gaexp = KEYS[7] }
local hold_id, buyer_id = ARGV[1], ARGV[2]

local h = redis.call('HMGET', k.hold, 'buyer', 'kind', 'seats', 'qty', 'state', 'expires', 'epoch',
  'ext', 'maxext', 'deadline')
if not h[1] then return {'NOT_FOUND'} end
if buyer_id ~= h[1] then return {'NOT_OWNED'} end
if redis.call('EXISTS', k.extreq) == 1 then return {'REPLAY'} end
local m = redis.call('HMGET', k.meta, 'epoch', 'ttl')
if h[7] ~= m[1] then return {'NOT_ACTIVE', 'R'} end
local now = now_ms()
local state, expires = h[5], tonumber(h[6])
if (state == 'A' or state == 'P') and expires <= now then return {'EXPIRED'} end
if state ~= 'A' then return {'NOT_ACTIVE', state} end
if tonumber(h[8]) >= tonumber(h[9]) then return {'LIMIT', 'extensions'} end
local new_expires = math.min(expires + tonumber(m[2]), tonumber(h[10]))
if new_expires <= expires then return {'LIMIT', 'lifetime'} end

retime_hold(k, hold_id, h[2], h[3], h[4], h[7], new_expires)
redis.call('HSET', k.hold, 'expires', new_expires, 'ext', tonumber(h[8]) + 1)
redis.call('SET', k.extreq, '1', 'PX', 86400000)
return {'OK', tostring(new_expires)}
