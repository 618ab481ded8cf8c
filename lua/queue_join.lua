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

  Returns one of
    {'OK', created(1|0), room_view..., buyer_view...}   (9 + 5 fields after the flag)
    {'NO_EVENT'}            the event has no live state
    {'CLOSED'}              the sale is closed
    {'RATE', retryAfterMs}  over the rate limit; nothing changed
    {'NEED_SEED'}           a pre-queue join without a committed seed and no
                            candidate given; call again with one
]]
--@include common
--@include queue

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], seen = KEYS[5], rl = KEYS[6] }
local buyer = ARGV[1]

local retry = over_limit(k.rl, tonumber(ARGV[4]), tonumber(ARGV[5]))
if retry then return {'RATE', tostring(retry)} end
local sale_state = redis.call('HGET', k.meta, 'state')
if not sale_state then return {'NO_EVENT'} end
if sale_state == 'CLOSED' then return {'CLOSED'} end

local now = now_ms()
commit_seed(k.qmeta, ARGV[2], ARGV[3])
note_open(k.qmeta, sale_state, now)

local created = 0
local r = parse_rec(redis.call('HGET', k.recs, buyer))
local active = r and ((r.state == 'W' and redis.call('ZSCORE', k.line, buyer)) or (r.state == 'A' and r.exp > now))
if not active then
  local score
  if redis.call('HEXISTS', k.qmeta, 'opened') == 1 then
    score = FIFO_BASE + redis.call('HINCRBY', k.qmeta, 'seq', 1)
  else
    local seed = redis.call('HGET', k.qmeta, 'seed')
    if not seed then return {'NEED_SEED'} end
    score = tonumber(string.sub(redis.sha1hex(seed .. ':' .. buyer), 1, 13), 16)
  end
  redis.call('ZADD', k.line, fmt(score), buyer)
  redis.call('HSET', k.recs, buyer, pack_rec({ state = 'W', join = now, score = score, exp = 0, admitted = 0 }))
  created = 1
end
redis.call('HSET', k.seen, buyer, now)

local out = {'OK', tostring(created)}
for _, v in ipairs(room_view(k, sale_state)) do out[#out + 1] = v end
for _, v in ipairs(buyer_view(k, buyer, now)) do out[#out + 1] = v end
out[#out + 1] = tostring(now)
return out
