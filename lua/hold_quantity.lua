--[[
  Holds a quantity in a general-admission section for one buyer: never more
  than capacity minus held minus sold. Expired holds of the section are
  reclaimed first, so held quantity never leaks.

  KEYS[1] meta     {ev:E}:meta
  KEYS[2] ga       {ev:E}:ga:<sectionId>       HASH capacity held sold
  KEYS[3] gaq      {ev:E}:ga:<sectionId>:q     HASH holdId -> quantity
  KEYS[4] gaexp    {ev:E}:ga:<sectionId>:exp   ZSET holdId -> expiresMs
  KEYS[5] hold     {ev:E}:hold:<holdId>  (holdId derived from event, buyer and request id)
  KEYS[6] buyer    {ev:E}:buyer:<buyerId>
  KEYS[7] exp      {ev:E}:exp
  KEYS[8] version  {ev:E}:version
  KEYS[9] changes  {ev:E}:changes
  KEYS[10] fresh   {ev:E}:q:fresh  (only when the event has a waiting room: the buyer
                   is no longer an admitted shopper without a hold)
  ARGV[1] holdId  ARGV[2] buyerId  ARGV[3] sectionId  ARGV[4] quantity (>= 1)
  ARGV[5] requestHash  the hash of what the request asks for (src/holds/holds.ts)

  Returns one of
    {'OK', holdId, createdMs, expiresMs}
    {'REPLAY', holdId}             the hold exists: this request already made it
    {'REUSED', holdId}             the hold exists, made by another request under
                                   the same request id (its stored hash differs)
    {'NO_EVENT'}  {'NO_SECTION'}  {'SALE', state}
    {'LIMIT', alreadyCounted, limit}
    {'INSUFFICIENT', free}         nothing changed
]]
--@include common

local k = { meta = KEYS[1], ga = KEYS[2], gaq = KEYS[3], gaexp = KEYS[4], hold = KEYS[5],
            buyer = KEYS[6], exp = KEYS[7], version = KEYS[8], changes = KEYS[9] }
local hold_id, buyer_id, section_id = ARGV[1], ARGV[2], ARGV[3]
local qty = tonumber(ARGV[4])
local req_hash = ARGV[5]

local seen = replay_or_reused(k.hold, hold_id, req_hash)
if seen then return seen end
local meta = read_meta(k.meta)
if not meta then return {'NO_EVENT'} end
if redis.call('EXISTS', k.ga) == 0 then return {'NO_SECTION'} end
if meta.state ~= 'OPEN' then return {'SALE', meta.state} end

local now = now_ms()
reclaim_ga(k.ga, k.gaq, k.gaexp, now)
local count = buyer_count(k.buyer, meta.epoch, now)
if count + qty > meta.limit then return {'LIMIT', tostring(count), tostring(meta.limit)} end

local g = redis.call('HMGET', k.ga, 'capacity', 'held', 'sold')
local capacity, held, sold = tonumber(g[1]), tonumber(g[2]), tonumber(g[3])
local free = capacity - held - sold
if qty > free then return {'INSUFFICIENT', tostring(free)} end

local expires = create_hold(k, meta, now, hold_id, buyer_id, req_hash,
  {'kind', 'G', 'section', section_id}, qty)
redis.call('HINCRBY', k.ga, 'held', qty)
redis.call('HSET', k.gaq, hold_id, qty)
redis.call('ZADD', k.gaexp, expires, hold_id)
log_change(k.version, k.changes, {'t', 'G', 'g', section_id, 'c', capacity .. ',' .. (held + qty) .. ',' .. sold})
if KEYS[10] then redis.call('ZREM', KEYS[10], buyer_id) end
return {'OK', hold_id, tostring(now), tostring(expires)}
