--[[
  Shared by the waiting-room scripts (lua/queue_*.lua). Needs nothing from
  common.lua: queue_position and queue_join, which run on every poll, leave
  common out (each local function a script defines costs Redis time on every
  call), and read the clock themselves.

  Keys of an event's waiting room (all tagged {ev:E}):
    qmeta  HASH  seed, seed_hash   the pre-queue shuffle seed and its SHA-256 (hex),
                                   committed at the first touch of the waiting room
                 opened            ms when the sale was first seen OPEN: the pre-queue
                                   is shuffled then and the seed revealed
                 seq               FIFO counter of joins after opening
                 bucket, last      token bucket of admissions and the ms it was filled
                 ver               bumped whenever a waiting buyer's view may change
                 soldout, may_return  '1'/'0'
                 rate              measured admissions per second (last window)
                 rate_start, rate_count  the window being measured
                 resumed           ms when admission steps resumed after an outage
                                   (nobody is skipped as abandoned for a while after it)
                 popped            members the steps have taken from the head of the line so far
                 head              the highest score they took (scores only grow after opening)
                 left              places given up in the line (LeaveQueue) so far
    lefts  LIST  the score of each place given up, newest last (the last 10,000)
    line   ZSET  buyer -> score of everyone waiting (pre-queue included):
                 pre-queue: the first 52 bits of SHA1(seed ':' buyer), so the
                 order at opening is the seed's shuffle; after opening:
                 2^52 + seq (first come, first served). Ties: by buyer id.
    recs   HASH  buyer -> "<state>|<joinMs>|<score>|<sessionExpiresMs>|<admittedMs>"
                 state W waiting, A admitted (shopping until sessionExpiresMs),
                 L left, E session expired, X skipped (abandoned), C completed
    shop   ZSET  buyer -> sessionExpiresMs of everyone shopping now
    seen   HASH  buyer -> ms the buyer last asked where they stand, for buyers
                 in the line only (the step drops those it takes from the line,
                 LeaveQueue those who leave), so it stays as small as the line
    fresh  ZSET  buyer -> admittedMs of shoppers admitted lately who hold nothing
                 yet (the hold scripts remove a buyer once they hold)
    prl:<window>  HASH  buyer -> GetQueuePosition polls in that rate-limit window
                 (lua/queue_poll.lua; the window number from the API's clock)
]]

local FIFO_BASE = 4503599627370496 -- 2^52

local function fmt(n) return string.format('%.0f', n) end

local function parse_rec(value)
  if not value then return nil end
  local s, j, sc, x, a = string.match(value, '^(%a)|(%d+)|([%d%.e%+]+)|(%d+)|(%d+)$')
  return { state = s, join = tonumber(j), score = tonumber(sc), exp = tonumber(x), admitted = tonumber(a) }
end

local function pack_rec(r)
  return r.state .. '|' .. fmt(r.join) .. '|' .. fmt(r.score) .. '|' .. fmt(r.exp) .. '|' .. fmt(r.admitted)
end

-- Commits the shuffle seed (the first caller's candidate wins); true when this call committed it.
local function commit_seed(qmeta, seed, seed_hash)
  if seed and seed ~= '' then
    if redis.call('HSETNX', qmeta, 'seed', seed) == 1 then
      redis.call('HSET', qmeta, 'seed_hash', seed_hash)
      return true
    end
  end
  return false
end

local function is_open_state(sale_state)
  return sale_state == 'OPEN' or sale_state == 'PAUSED' or sale_state == 'CLOSED'
end

-- Marks the waiting room open the first time the sale is seen OPEN (or past it).
local function note_open(qmeta, sale_state, now)
  if is_open_state(sale_state) then
    if redis.call('HSETNX', qmeta, 'opened', now) == 1 then redis.call('HINCRBY', qmeta, 'ver', 1) end
  end
end

-- Fixed-window rate limit; returns the ms until the window resets when over it, else nil.
local function over_limit(key, limit, window_ms)
  if not limit or limit <= 0 then return nil end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window_ms) end
  if n > limit then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window_ms); ttl = window_ms end
    return ttl
  end
  return nil
end

-- What JoinQueue and GetQueuePosition need of the room, as one string
-- "saleState|openedMs|soldout|mayReturn|measuredRate|seedHash|seed" (openedMs ''
-- before the opening; seed '' until then). Commits the candidate seed when none
-- is committed, and notes the opening, each only when the one HMGET that reads
-- the room says it is still needed (a hot path: no write on an ordinary call).
local function room_brief(qmeta, sale_state, now, seed, seed_hash)
  local m = redis.call('HMGET', qmeta, 'opened', 'seed_hash', 'seed', 'soldout', 'may_return', 'rate')
  if not m[2] and commit_seed(qmeta, seed, seed_hash) then m[2], m[3] = seed_hash, seed end
  if not m[1] and is_open_state(sale_state) then
    note_open(qmeta, sale_state, now)
    m[1] = fmt(now)
  end
  local opened = m[1] or ''
  return sale_state .. '|' .. opened .. '|' .. (m[4] or '0') .. '|' .. (m[5] or '0') .. '|' .. (m[6] or '0') .. '|' ..
    (m[2] or '') .. '|' .. (opened ~= '' and (m[3] or '') or ''), opened ~= '', m[3]
end

-- One buyer as one string "state|position|joinMs|sessionExpiresMs|admittedMs"
-- from their record (parsed) and, when waiting, their rank in the line (nil:
-- not in it); state '' when unknown. Like queue_watch.lua's buyer_view.
local function buyer_brief(r, rank, now)
  if not r then return '|0|0|0|0' end
  local state, position = r.state, 0
  if state == 'W' then
    if rank then position = rank + 1 else state = 'E' end
  elseif state == 'A' and r.exp <= now then
    state = 'E'
  end
  return state .. '|' .. position .. '|' .. fmt(r.join) .. '|' .. fmt(r.exp) .. '|' .. fmt(r.admitted)
end
