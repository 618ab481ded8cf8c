--[[
  The views of many watching buyers of one event at once (WatchQueue's
  per-process feed asks for all its watchers in one call), noting each as
  still there.

  KEYS[1] meta   {ev:E}:meta
  KEYS[2] qmeta  {ev:E}:q:meta
  KEYS[3] line   {ev:E}:q:line
  KEYS[4] recs   {ev:E}:q:recs
  KEYS[5] seen   {ev:E}:q:seen
  ARGV[1..] buyerIds

  Returns {'OK', nowMs, {room_view (9 fields)}, {buyer_view (5 fields) per buyer, flattened}}
          or {'NO_EVENT'}
]]
--@include common
--@include queue

-- What the event's waiting room looks like to everyone: {saleState, opened, seedHash, seed
-- (once opened), soldout, mayReturn, rate, ver, waiting}
local function room_view(k, sale_state)
  local m = redis.call('HMGET', k.qmeta, 'opened', 'seed_hash', 'seed', 'soldout', 'may_return', 'rate', 'ver')
  local opened = m[1] or ''
  return { sale_state or '', opened, m[2] or '', opened ~= '' and (m[3] or '') or '', m[4] or '0', m[5] or '0',
           m[6] or '0', m[7] or '0', tostring(redis.call('ZCARD', k.line)) }
end

-- One buyer: {state, position, joinMs, sessionExpiresMs, admittedMs}; state '' when unknown.
-- An admitted buyer whose session ran out reads as E before the step notices.
local function buyer_view(k, buyer, now)
  local r = parse_rec(redis.call('HGET', k.recs, buyer))
  if not r then return {'', '0', '0', '0', '0'} end
  local state, position = r.state, 0
  if state == 'W' then
    local rank = redis.call('ZRANK', k.line, buyer)
    if rank then position = rank + 1 else state = 'E' end
  elseif state == 'A' and r.exp <= now then
    state = 'E'
  end
  return {state, tostring(position), fmt(r.join), fmt(r.exp), fmt(r.admitted)}
end

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], seen = KEYS[5] }
local sale_state = redis.call('HGET', k.meta, 'state')
if not sale_state then return {'NO_EVENT'} end
local now = now_ms()
note_open(k.qmeta, sale_state, now)

local views, seen = {}, {}
for i = 1, #ARGV do
  local v = buyer_view(k, ARGV[i], now)
  for j = 1, 5 do views[#views + 1] = v[j] end
  if v[1] == 'W' then -- only buyers in the line are noted as still there
    seen[#seen + 1] = ARGV[i]
    seen[#seen + 1] = now
  end
end
if #seen > 0 then chunked('HSET', k.seen, seen, 1000) end
return {'OK', tostring(now), room_view(k, sale_state), views}
