--[[
  Advances an event's waiting room by one step. Safe to run from any API
  instance at any time, as often as wanted: it is atomic, reads the clock
  from Redis TIME, and admits only what the token bucket has earned since
  the last step, so concurrent callers share one rate.

  In order:
    1. notes the opening (the pre-queue's shuffle takes effect, the seed is revealed);
    2. expires shopping sessions that ran out (their slots free up);
    3. with the sale OPEN: reads the inventory (reserved: capacity minus the
       entries of the seats hash, held or sold; general admission: capacity
       minus held minus sold). With nothing left, admission pauses and the
       room is marked sold out (may_return while holds are pending);
    4. admits up to min(bucket, max_shopping - shopping, seats left - fresh)
       buyers from the head of the line, skipping those who stopped asking
       where they stand (abandoned) without counting them. `fresh` are the
       shoppers admitted less than `grace` ms ago who hold nothing yet: each
       will want at least one seat, so admission does not let in more buyers
       than seats; one who does not hold within the grace stops counting, so
       a buyer who walks away holds back the line for at most `grace`.
       What it takes from the head (admitted or skipped) is counted in qmeta
       `popped`, with the highest score taken in `head`: GetQueuePosition's
       batches follow known places through them (lua/queue_poll.lua).
  A gap of `outage` ms or more since the previous step means no API instance
  was stepping (they were down, or could not reach Redis): waiting buyers
  could not say they were still there either, so nobody is skipped as
  abandoned before a full `abandon` ms after the steps resumed.
  The bucket fills at `rate` per second from the opening, up to `rate` (one
  second of burst), and does not fill while the sale is not open or nothing
  is left.

  The settings (rate, max shopping, session) come from the meta hash
  (wr_rate, wr_max, wr_session_ms: written when the live state is loaded and
  by UpdateWaitingRoom through set_waiting_room.lua), so a change reaches every
  instance's next step; ARGV[1..3] stand in for a live state loaded before
  the meta hash carried them.

  KEYS[1] meta   {ev:E}:meta    KEYS[2] qmeta {ev:E}:q:meta   KEYS[3] line {ev:E}:q:line
  KEYS[4] recs   {ev:E}:q:recs  KEYS[5] shop  {ev:E}:q:shop   KEYS[6] seen {ev:E}:q:seen
  KEYS[7] seats  {ev:E}:seats   KEYS[8] exp   {ev:E}:exp
  KEYS[9] fresh  {ev:E}:q:fresh (buyer -> admittedMs; the hold scripts remove a buyer who holds)
  KEYS[10..]     ga hash of each general-admission section {ev:E}:ga:<sectionId>
  ARGV[1] admissions per second   ARGV[2] max shopping at once   ARGV[3] session ms (each unless meta has it)
  ARGV[4] abandon ms (a waiting buyer unseen this long is skipped; 0 = never)
  ARGV[5] reserved seats in the layout   ARGV[6] most buyers looked at per step
  ARGV[7] grace ms: how long an admitted buyer without a hold counts against the seats left (0 = never;
          never more than the session)
  ARGV[8] outage ms: a gap between steps this long means an outage (see above)

  Returns {status, ver, admitted, expired, skipped, waiting, shopping, free,
           soldout, mayReturn, expiredHolds, nowMs, fresh}
    status: NO_EVENT (nothing else follows) | SCHEDULED | OPEN | PAUSED | CLOSED
            (CLOSED: the room's keys expire a week later)
    expiredHolds: holds past their expiry not reclaimed yet (seats about to return)
]]
--@include common
--@include queue

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], shop = KEYS[5], seen = KEYS[6],
            seats = KEYS[7], exp = KEYS[8], fresh = KEYS[9] }
local FIRST_GA_KEY = 10
local rate, max_shopping, session_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local abandon_ms, reserved, max_scan = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local grace_ms, outage_ms = tonumber(ARGV[7]), tonumber(ARGV[8])
local CLOSED_ROOM_TTL_MS = 7 * 86400000

local ev = redis.call('HMGET', k.meta, 'state', 'wr_rate', 'wr_max', 'wr_session_ms')
local sale_state = ev[1]
if not sale_state then return {'NO_EVENT'} end
rate = tonumber(ev[2]) or rate
max_shopping = tonumber(ev[3]) or max_shopping
session_ms = tonumber(ev[4]) or session_ms
grace_ms = math.min(grace_ms, session_ms)
local now = now_ms()
note_open(k.qmeta, sale_state, now)
local changed = false

-- 2. sessions that ran out
local ended = redis.call('ZRANGEBYSCORE', k.shop, '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #ended do
  local r = parse_rec(redis.call('HGET', k.recs, ended[i]))
  if r and r.state == 'A' then
    r.state = 'E'
    redis.call('HSET', k.recs, ended[i], pack_rec(r))
  end
end
if #ended > 0 then
  chunked('ZREM', k.shop, ended)
  chunked('ZREM', k.fresh, ended)
  changed = true
end
-- admitted buyers past the grace no longer count against the seats left
redis.call('ZREMRANGEBYSCORE', k.fresh, '-inf', now - grace_ms)

local m = redis.call('HMGET', k.qmeta, 'bucket', 'last', 'soldout', 'may_return', 'rate_start', 'rate_count', 'opened', 'resumed')
-- The bucket starts filling when the sale opens.
local bucket, last = tonumber(m[1]) or 0, tonumber(m[2]) or tonumber(m[7]) or now
local soldout, may_return = m[3] or '0', m[4] or '0'
-- after an outage, everyone waiting gets a full abandon time from now to be seen again
local resumed = tonumber(m[8]) or 0
if m[2] and now - tonumber(m[2]) >= outage_ms then
  resumed = now
  redis.call('HSET', k.qmeta, 'resumed', fmt(now))
end
local admitted, skipped, free = 0, 0, 0
local fresh = redis.call('ZCARD', k.fresh)
local expired_holds = 0
local shopping = redis.call('ZCARD', k.shop)

if sale_state == 'OPEN' then
  -- 3. inventory
  free = reserved - redis.call('HLEN', k.seats)
  for i = FIRST_GA_KEY, #KEYS do
    local g = redis.call('HMGET', KEYS[i], 'capacity', 'held', 'sold')
    free = free + (tonumber(g[1]) or 0) - (tonumber(g[2]) or 0) - (tonumber(g[3]) or 0)
  end
  expired_holds = redis.call('ZCOUNT', k.exp, '-inf', now)
  local new_soldout, new_may_return = '0', '0'
  if free <= 0 then
    new_soldout = '1'
    if redis.call('ZCARD', k.exp) > 0 then new_may_return = '1' end
  end
  if new_soldout ~= soldout or new_may_return ~= may_return then changed = true end
  soldout, may_return = new_soldout, new_may_return

  if soldout == '1' then
    bucket = 0
  else
    -- 4. admission
    bucket = math.min(math.max(1, rate), bucket + rate * math.max(0, now - last) / 1000)
    local want = math.min(math.floor(bucket), max_shopping - shopping, free - fresh)
    local scanned, head, taken = 0, nil, {}
    while admitted < want and scanned < max_scan do
      local popped = redis.call('ZPOPMIN', k.line, math.min(want - admitted, max_scan - scanned))
      if #popped == 0 then break end
      head = popped[#popped]
      for i = 1, #popped, 2 do
        local buyer = popped[i]
        scanned = scanned + 1
        taken[#taken + 1] = buyer
        local r = parse_rec(redis.call('HGET', k.recs, buyer))
        local seen = tonumber(redis.call('HGET', k.seen, buyer)) or (r and r.join) or 0
        if r and r.state == 'W' then
          if abandon_ms > 0 and math.max(seen, resumed) + abandon_ms <= now then
            r.state = 'X'
            skipped = skipped + 1
          else
            r.state, r.exp, r.admitted = 'A', now + session_ms, now
            redis.call('ZADD', k.shop, fmt(r.exp), buyer)
            if grace_ms > 0 then redis.call('ZADD', k.fresh, fmt(now), buyer) end
            admitted = admitted + 1
          end
          redis.call('HSET', k.recs, buyer, pack_rec(r))
        end
      end
    end
    -- what GetQueuePosition's batches follow (lua/queue_poll.lua): members popped
    -- from the head so far, and the highest score popped (scores only grow once open)
    if scanned > 0 then
      redis.call('HINCRBY', k.qmeta, 'popped', scanned)
      redis.call('HSET', k.qmeta, 'head', head)
      -- out of the line: nothing to note of them as still there any more
      chunked('HDEL', k.seen, taken)
    end
    bucket = bucket - admitted
    shopping = shopping + admitted
    if admitted > 0 or skipped > 0 then changed = true end
  end

  -- measured admission rate over windows of at least 5 s
  local rate_start, rate_count = tonumber(m[5]) or now, (tonumber(m[6]) or 0) + admitted
  if now - rate_start >= 5000 then
    redis.call('HSET', k.qmeta, 'rate', string.format('%.3f', rate_count * 1000 / (now - rate_start)))
    rate_start, rate_count = now, 0
  end
  redis.call('HSET', k.qmeta, 'rate_start', fmt(rate_start), 'rate_count', rate_count)
else
  bucket = 0
  if sale_state == 'CLOSED' and redis.call('TTL', k.qmeta) == -1 then
    -- A closed sale never reopens: its waiting room goes away a week later.
    for _, key in ipairs({k.qmeta, k.line, k.recs, k.shop, k.seen, k.fresh}) do redis.call('PEXPIRE', key, CLOSED_ROOM_TTL_MS) end
  end
end

redis.call('HSET', k.qmeta, 'bucket', string.format('%.6f', bucket), 'last', fmt(now), 'soldout', soldout,
  'may_return', may_return)
local ver = changed and redis.call('HINCRBY', k.qmeta, 'ver', 1) or (tonumber(redis.call('HGET', k.qmeta, 'ver')) or 0)
return {sale_state, tostring(ver), tostring(admitted), tostring(#ended), tostring(skipped),
        tostring(redis.call('ZCARD', k.line)), tostring(shopping), tostring(free), soldout, may_return,
        tostring(expired_holds), tostring(now), tostring(fresh + admitted)}
