--[[
  Repairs the live state of one hold's seats from what MySQL (the truth) says
  about them, when sell_hold or unsell_hold answered MISSING or the hold hash
  is gone: a checkout pinned before a rebuild, a refund of an order sold
  before one, a refund after the sold hold's hash expired; and after every
  partial refund (workflows/refund-tickets.ts), where MySQL released some of
  the hold's seats or places and the order keeps the others (the hold stays
  sold: `mine`; gaSold is the section's count after the refund). Touches only the
  seats concerned, never the epoch or anyone else's holds, so live holds of
  other buyers survive (a rebuild would drop them all). Idempotent.

  KEYS[1] meta      {ev:E}:meta
  KEYS[2] hold      {ev:E}:hold:<holdId>  (may be gone)
  KEYS[3] seats     {ev:E}:seats
  KEYS[4] buyer     {ev:E}:buyer:<buyerId>
  KEYS[5] exp       {ev:E}:exp
  KEYS[6] version   {ev:E}:version
  KEYS[7] changes   {ev:E}:changes
  KEYS[8] rowhints  {ev:E}:rowhints  (freed seats' rows are forgotten)
  KEYS[9] rowcursor {ev:E}:rowcursor (dropped when seats are freed)
  KEYS[10..12]      ga, gaq, gaexp of the hold's section (general admission only)
  ARGV[1] holdId
  ARGV[2] JSON, read from MySQL just before:
          {sold: [[seatId, ownerHoldId]...]  seats of the hold an order owns (ours or another's),
           free: [seatId...]                 seats of the hold no order owns,
           gaSold: n | null                  the section's sold count (general admission),
           bought: n                         places the buyer bought in the event,
           mine: true | false}               whether this hold's order owns its seats now
  ARGV[3] the hold's section id (general admission; "" otherwise)

  A free seat is only cleared when Redis says it is sold to this hold, sold by
  a rebuild ("S|rebuild") or held by this hold: a live hold of another buyer
  on a seat MySQL calls free is left alone.

  Returns {'OK', changed seats}, or {'NOT_LOADED'} when the event has no live
  state at all (the API's start-up or on-demand rebuild loads it; a checkout
  never does).
]]
--@include common

local k = { meta = KEYS[1], hold = KEYS[2], seats = KEYS[3], buyer = KEYS[4], exp = KEYS[5],
            version = KEYS[6], changes = KEYS[7], rowhints = KEYS[8], rowcursor = KEYS[9],
            ga = KEYS[10], gaq = KEYS[11], gaexp = KEYS[12] }
local hold_id = ARGV[1]
local truth = cjson.decode(ARGV[2])

local epoch = redis.call('HGET', k.meta, 'epoch')
if not epoch then return {'NOT_LOADED'} end

local changed = 0
local sold = {}
for i = 1, #truth.sold do
  local seat, owner = truth.sold[i][1], truth.sold[i][2]
  local want = 'S|' .. owner
  if redis.call('HGET', k.seats, seat) ~= want then
    redis.call('HSET', k.seats, seat, want)
    sold[#sold + 1] = seat
  end
end
if #sold > 0 then
  log_change(k.version, k.changes, {'t', 'S', 's', table.concat(sold, ',')})
  changed = changed + #sold
end

local freed = {}
local suffix = '|' .. hold_id
for i = 1, #truth.free do
  local seat = truth.free[i]
  local value = redis.call('HGET', k.seats, seat)
  if value and (value == 'S|rebuild' or string.sub(value, -#suffix) == suffix) then
    redis.call('HDEL', k.seats, seat)
    freed[#freed + 1] = seat
  end
end
if #freed > 0 then
  forget_row_hints(k.rowhints, k.rowcursor, freed)
  log_change(k.version, k.changes, {'t', 'F', 's', table.concat(freed, ',')})
  changed = changed + #freed
end

if k.ga and truth.gaSold ~= cjson.null and truth.gaSold ~= nil then
  local held = tonumber(redis.call('HGET', k.gaq, hold_id))
  if held then
    redis.call('HDEL', k.gaq, hold_id)
    redis.call('ZREM', k.gaexp, hold_id)
    redis.call('HINCRBY', k.ga, 'held', -held)
  end
  local before = redis.call('HGET', k.ga, 'sold')
  redis.call('HSET', k.ga, 'sold', truth.gaSold)
  if held or tonumber(before) ~= tonumber(truth.gaSold) then
    local g = redis.call('HMGET', k.ga, 'capacity', 'held', 'sold')
    log_change(k.version, k.changes, {'t', 'G', 'g', ARGV[3], 'c', g[1] .. ',' .. g[2] .. ',' .. g[3]})
    changed = changed + 1
  end
end

redis.call('HDEL', k.buyer, 'h' .. hold_id)
redis.call('HSET', k.buyer, 's' .. epoch, truth.bought)
redis.call('ZREM', k.exp, hold_id)

-- The hold hash, when it is still there, says what became of it, in this epoch.
local state = redis.call('HGET', k.hold, 'state')
if state then
  if truth.mine then
    redis.call('HSET', k.hold, 'state', 'S', 'epoch', epoch)
  elseif state == 'S' then
    redis.call('HSET', k.hold, 'state', 'U', 'epoch', epoch)
  end
end
return {'OK', tostring(changed)}
