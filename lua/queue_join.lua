--[[
  Puts a buyer in an event's waiting room. Idempotent per buyer: a buyer who
  is waiting or shopping keeps their place; one who left, expired or
  completed joins again at the back. Before the sale opens, joiners enter the
  pre-queue, ordered by the committed seed (see includes/queue.lua).

  KEYS[1] meta   {ev:E}:meta        (the event's live state: sale state)
  KEYS[2] qmeta  {ev:E}:q:meta
  KEYS[3] line   {ev:E}:q:line
  KEYS[4] recs   {ev:E}:q:recs
  KEYS[5] seen   {ev:E}:q:seen
  KEYS[6] rl     {ev:E}:q:rl:j:<buyerId>   rate-limit counter
  ARGV[1] buyerId
  ARGV[2] candidate seed (hex)   ARGV[3] its SHA-256 (hex): kept only if none is
          committed ('' when the caller believes one is)
  ARGV[4] rate limit: joins per window (0 = none)   ARGV[5] window ms

  A new joiner needs no `seen` entry: the step reads an absent one as the
  join time. A returning one (left, expired, completed) gets one, so an old
  entry from before cannot make them look abandoned.

  Returns one string, fields joined by '|':
    'OK|' created (1|0) '|' room_brief (7 fields) '|' buyer_brief (5 fields)
                            (as in queue_position.lua)
    'NO_EVENT'              the event has no live state
    'CLOSED'                the sale is closed
    'RATE|<retryAfterMs>'   over the rate limit; nothing changed
    'NEED_SEED'             a pre-queue join without a committed seed and no
                            candidate given; call again with one
]]
--@include queue

local line, recs, seen = KEYS[3], KEYS[4], KEYS[5]
local buyer = ARGV[1]

local retry = over_limit(KEYS[6], tonumber(ARGV[4]), tonumber(ARGV[5]))
if retry then return 'RATE|' .. fmt(retry) end
local sale_state = redis.call('HGET', KEYS[1], 'state')
if not sale_state then return 'NO_EVENT' end
if sale_state == 'CLOSED' then return 'CLOSED' end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local room, opened, seed = room_brief(KEYS[2], sale_state, now, ARGV[2], ARGV[3])

local created = 0
local r = parse_rec(redis.call('HGET', recs, buyer))
local rank = nil
if r and r.state == 'W' then rank = redis.call('ZRANK', line, buyer) end
if (r and r.state == 'W' and rank) or (r and r.state == 'A' and r.exp > now) then
  -- still there: noted only for a buyer in the line (`seen` holds nobody else)
  if r.state == 'W' then redis.call('HSET', seen, buyer, now) end
else
  local score
  if opened then
    score = FIFO_BASE + redis.call('HINCRBY', KEYS[2], 'seq', 1)
  else
    if not seed then return 'NEED_SEED' end
    score = tonumber(string.sub(redis.sha1hex(seed .. ':' .. buyer), 1, 13), 16)
  end
  redis.call('ZADD', line, fmt(score), buyer)
  local returning = r ~= nil
  r = { state = 'W', join = now, score = score, exp = 0, admitted = 0 }
  redis.call('HSET', recs, buyer, pack_rec(r))
  if returning then redis.call('HSET', seen, buyer, now) end
  -- after the opening a joiner's score is the highest in the line (2^52 + seq)
  if opened then rank = redis.call('ZCARD', line) - 1 else rank = redis.call('ZRANK', line, buyer) end
  created = 1
end
return 'OK|' .. created .. '|' .. room .. '|' .. buyer_brief(r, rank, now)
