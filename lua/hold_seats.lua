--[[
  Holds specific reserved seats for one buyer, all or nothing.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] seats    {ev:E}:seats
  KEYS[3] hold     {ev:E}:hold:<holdId>   (holdId derived from event, buyer and request id)
  KEYS[4] buyer    {ev:E}:buyer:<buyerId>
  KEYS[5] exp      {ev:E}:exp
  KEYS[6] version  {ev:E}:version
  KEYS[7] changes  {ev:E}:changes
  KEYS[8] fresh    {ev:E}:q:fresh  (only when the event has a waiting room: the buyer
                   is no longer an admitted shopper without a hold)
  ARGV[1] holdId   ARGV[2] buyerId
  ARGV[3] requestHash  the hash of what the request asks for (src/holds/holds.ts)
  ARGV[4..] seat ids (validated, distinct)

  Returns one of
    {'OK', holdId, createdMs, expiresMs}
    {'REPLAY', holdId}             the hold exists: this request already made it
    {'REUSED', holdId}             the hold exists, made by another request under
                                   the same request id (its stored hash differs)
    {'NO_EVENT'}                   inventory not loaded
    {'SALE', state}                sale not OPEN (SCHEDULED, PAUSED, CLOSED)
    {'LIMIT', alreadyCounted, limit}
    {'TAKEN', seatId...}           nothing changed; these seats are taken
  A seat held by an expired hold counts as free.
]]
--@include common

local k = { meta = KEYS[1], seats = KEYS[2], hold = KEYS[3], buyer = KEYS[4],
            exp = KEYS[5], version = KEYS[6], changes = KEYS[7] }
local hold_id, buyer_id, req_hash = ARGV[1], ARGV[2], ARGV[3]

local seen = replay_or_reused(k.hold, hold_id, req_hash)
if seen then return seen end
local meta = read_meta(k.meta)
if not meta then return {'NO_EVENT'} end
if meta.state ~= 'OPEN' then return {'SALE', meta.state} end

local now = now_ms()
local seats = {unpack(ARGV, 4)}
local count = buyer_count(k.buyer, meta.epoch, now)
if count + #seats > meta.limit then return {'LIMIT', tostring(count), tostring(meta.limit)} end

local values = redis.call('HMGET', k.seats, unpack(seats))
local taken = {}
for i = 1, #seats do
  if seat_taken(values[i], now) then taken[#taken + 1] = seats[i] end
end
if #taken > 0 then return {'TAKEN', unpack(taken)} end

local expires = hold_reserved(k, meta, now, hold_id, buyer_id, req_hash, seats)
if KEYS[8] then redis.call('ZREM', KEYS[8], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires)}
