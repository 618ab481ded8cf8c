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

local k = { meta = KEYS[1], qmeta = KEYS[2], line = KEYS[3], recs = KEYS[4], seen = KEYS[5] }
local sale_state = redis.call('HGET', k.meta, 'state')
if not sale_state then return {'NO_EVENT'} end
local now = now_ms()
note_open(k.qmeta, sale_state, now)

local views, seen = {}, {}
for i = 1, #ARGV do
  local v = buyer_view(k, ARGV[i], now)
  for j = 1, 5 do views[#views + 1] = v[j] end
  if v[1] ~= '' then
    seen[#seen + 1] = ARGV[i]
    seen[#seen + 1] = now
  end
end
if #seen > 0 then chunked('HSET', k.seen, seen, 1000) end
return {'OK', tostring(now), room_view(k, sale_state), views}
