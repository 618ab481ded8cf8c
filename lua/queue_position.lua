--[[
  Where a buyer stands (and notes that the buyer is still there: a waiting
  buyer who stops asking is skipped as abandoned when their turn comes).

  KEYS[1] meta   {ev:E}:meta
  KEYS[2] qmeta  {ev:E}:q:meta
  KEYS[3] line   {ev:E}:q:line
  KEYS[4] recs   {ev:E}:q:recs
  KEYS[5] seen   {ev:E}:q:seen
  KEYS[6] rl     {ev:E}:q:rl:p:<buyerId>
  ARGV[1] buyerId
  ARGV[2] candidate seed   ARGV[3] its SHA-256 (kept only if none is committed)
  ARGV[4] rate limit: calls per window (0 = none)   ARGV[5] window ms

  Returns one of
    {'OK', room_view (9 fields), buyer_view (5 fields), nowMs}
      room_view:  saleState, openedMs|'', seedHash, seed|'' (until opened),
                  soldout, mayReturn, measuredRate, ver, waiting
      buyer_view: state (W A L E X C, '' unknown), position, joinMs,
                  sessionExpiresMs, admittedMs
    {'NO_EVENT'}
    {'RATE', retryAfterMs}
]]
--@include common
--@include queue

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], seen = KEYS[5], rl = KEYS[6] }
local buyer = ARGV[1]

local retry = over_limit(k.rl, tonumber(ARGV[4]), tonumber(ARGV[5]))
if retry then return {'RATE', tostring(retry)} end
local sale_state = redis.call('HGET', k.meta, 'state')
if not sale_state then return {'NO_EVENT'} end

local now = now_ms()
commit_seed(k.qmeta, ARGV[2], ARGV[3])
note_open(k.qmeta, sale_state, now)
if redis.call('HEXISTS', k.recs, buyer) == 1 then redis.call('HSET', k.seen, buyer, now) end

local out = {'OK'}
for _, v in ipairs(room_view(k, sale_state)) do out[#out + 1] = v end
for _, v in ipairs(buyer_view(k, buyer, now)) do out[#out + 1] = v end
out[#out + 1] = tostring(now)
return out
