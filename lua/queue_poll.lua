--[[
  Every GetQueuePosition poll one API process took for one event during one
  short tick, in one call (src/queue/poll-batcher.ts): counts the buyers'
  polls for the rate limit, notes each as still there (a waiting buyer who stops asking is skipped as
  abandoned when their turn comes; the process skips the note for a known
  buyer it noted lately, far within the abandon time), and reads the room
  and the places the process does not know yet.

  The process keeps, per waiting buyer it has read after the opening, their
  score and place and the room's `popped` and `left` counters at that read,
  and the scores of the places given up since (`lefts`, which this script
  hands it). Only the steps (from the head) and LeaveQueue take anyone out of
  the line, and after the opening every joiner goes to the back, so a known
  buyer whose score is above `head` (the steps have not reached them) is not
  read again: their place is their place at the read, minus the buyers the
  steps popped since, minus those who left since with a lower score; exact as
  of this call. That holds while the counters only grew (Redis did not lose
  the room) and the process can have every score given up since it last
  looked (at most 1,000 behind); otherwise, and for everyone it does not
  know, and for a buyer who gave up their own place since, the buyer is read
  (record and ZRANK).

  KEYS[1] meta   {ev:E}:meta
  KEYS[2] qmeta  {ev:E}:q:meta   (popped, left, head: see includes/queue.lua)
  KEYS[3] line   {ev:E}:q:line
  KEYS[4] recs   {ev:E}:q:recs
  KEYS[5] seen   {ev:E}:q:seen
  KEYS[6] prl    {ev:E}:q:prl:<window>  position polls per buyer in the current
                 rate-limit window (HASH buyer -> count; the window number comes
                 from the API's clock, the hash expires after two windows)
  KEYS[7] lefts  {ev:E}:q:lefts  (lua/queue_leave.lua)
  ARGV[1] candidate seed   ARGV[2] its SHA-256 (kept only if none is committed)
  ARGV[3] window ms (0 = no rate limit)
  ARGV[4] the `left` counter the process last saw ('' = it trusts nothing it knows)
  ARGV[5] the `popped` counter the process last saw
  ARGV[6..] per buyer, three values: buyerId; polls to add to the buyer's count
            in the window (0: not counted in Redis this time; a leading '-', as
            in '-2' or '-0': the process noted them lately, so `seen` is left
            alone); known score ('' = read this buyer). The process decides
            the rate limit from the counts returned.

  Returns {'OK', nowMs, room_brief (as in queue_position.lua), popped, left, head,
           {scores given up since ARGV[4], oldest first; empty when known places
            are not trusted}, one entry per buyer in ARGV order}
    entry: n         (an integer) known: place = place at the read - (popped -
                     popped at the read) - (those who left ahead of it since)
           '<n>|B|' buyer_brief '|' score    read: buyer_brief as in
                     queue_position.lua (state '' when unknown), score '' when
                     not a waiting buyer
    n: the buyer's count in the window after this call's polls (0 when none
       were added)
  or {'NO_EVENT'}
]]
--@include common
--@include queue

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], seen = KEYS[5], prl = KEYS[6],
            lefts = KEYS[7] }
local MAX_LEFTS_BEHIND = 1000
local FIRST = 6
local window_ms = tonumber(ARGV[3])
local sale_state = redis.call('HGET', k.meta, 'state')
if not sale_state then return {'NO_EVENT'} end
local now = now_ms()
local room, opened = room_brief(k.qmeta, sale_state, now, ARGV[1], ARGV[2])
local c = redis.call('HMGET', k.qmeta, 'popped', 'left', 'head')
local popped, left, head = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or -1
local known_left = tonumber(ARGV[4])
local trust = opened and known_left ~= nil and left >= known_left and left - known_left <= MAX_LEFTS_BEHIND and
  popped >= (tonumber(ARGV[5]) or 0)
local given_up, gone = {}, {}
if trust and left > known_left then
  given_up = redis.call('LRANGE', k.lefts, known_left - left, -1)
  if #given_up ~= left - known_left then trust, given_up = false, {} end
  for i = 1, #given_up do gone[tonumber(given_up[i])] = true end
end

-- The counted buyers' counts: read with one HMGET, written back with one HSET
-- (the script is atomic), not one command per buyer.
local counted, counts = {}, {}
for i = FIRST, #ARGV, 3 do
  local add = tonumber(ARGV[i + 1])
  if add ~= 0 then counted[#counted + 1] = ARGV[i] end
end
for i = 1, #counted, 1000 do
  local part = redis.call('HMGET', k.prl, unpack(counted, i, math.min(i + 999, #counted)))
  for j = 1, #part do counts[#counts + 1] = part[j] end
end

local out = {'OK', fmt(now), room, fmt(popped), fmt(left), c[3] or '', given_up}
local seen, updated = {}, {}
local m = 0
for i = FIRST, #ARGV, 3 do
  local buyer = ARGV[i]
  local add = tonumber(ARGV[i + 1])
  local note = string.byte(ARGV[i + 1]) ~= 45 -- '-'
  local n = 0
  if add ~= 0 then
    if add < 0 then add = -add end
    m = m + 1
    n = (tonumber(counts[m]) or 0) + add
    updated[#updated + 1] = buyer
    updated[#updated + 1] = n
  end
  local score = tonumber(ARGV[i + 2])
  if trust and score and score > head and not gone[score] then
    if note then
      seen[#seen + 1] = buyer
      seen[#seen + 1] = now
    end
    out[#out + 1] = n
  else
    local r = parse_rec(redis.call('HGET', k.recs, buyer))
    local rank = nil
    if r and r.state == 'W' then
      -- only buyers in the line are noted as still there (the abandonment rule's input)
      seen[#seen + 1] = buyer
      seen[#seen + 1] = now
      rank = redis.call('ZRANK', k.line, buyer)
    end
    out[#out + 1] = n .. '|B|' .. buyer_brief(r, rank, now) .. '|' .. (rank and fmt(r.score) or '')
  end
end
if #updated > 0 then
  chunked('HSET', k.prl, updated, 1000)
  redis.call('PEXPIRE', k.prl, 2 * window_ms)
end
if #seen > 0 then chunked('HSET', k.seen, seen, 1000) end
return out
