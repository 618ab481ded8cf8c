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

  Called on every poll of every waiting buyer, so it is kept to six commands
  (HGET state, TIME, one HMGET of the room, HGET of the buyer, and for a buyer
  in the line HSET and ZRANK;
  plus INCR with a rate limit) and one string in reply.

  Returns one string, fields joined by '|':
    'OK|' room_brief (7 fields) '|' buyer_brief (5 fields)
      room_brief:  saleState, openedMs|'', soldout, mayReturn, measuredRate, seedHash,
                   seed|'' (until opened)
      buyer_brief: state (W A L E X C, '' unknown), position, joinMs,
                   sessionExpiresMs, admittedMs
    'NO_EVENT'
    'RATE|<retryAfterMs>'
]]
--@include queue

local buyer = ARGV[1]
local retry = over_limit(KEYS[6], tonumber(ARGV[4]), tonumber(ARGV[5]))
if retry then return 'RATE|' .. fmt(retry) end
local sale_state = redis.call('HGET', KEYS[1], 'state')
if not sale_state then return 'NO_EVENT' end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local room = room_brief(KEYS[2], sale_state, now, ARGV[2], ARGV[3])
local rec = redis.call('HGET', KEYS[4], buyer)
local r, rank = nil, nil
if rec then
  r = parse_rec(rec)
  if r.state == 'W' then
    -- only buyers in the line are noted as still there (the abandonment rule's input)
    redis.call('HSET', KEYS[5], buyer, now)
    rank = redis.call('ZRANK', KEYS[3], buyer)
  end
end
return 'OK|' .. room .. '|' .. buyer_brief(r, rank, now)
