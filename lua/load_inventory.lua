--[[
  (Re)builds an event's live state: settings, layout, sold seats and
  general-admission counts from the source of truth. Starts a new epoch (a
  millisecond timestamp, never reused), so
  every hold made before is dropped (it reads as released) and buyers' counts
  restart from what they bought.

  KEYS[1] meta  KEYS[2] seats  KEYS[3] layout  KEYS[4] exp  KEYS[5] version  KEYS[6] changes
  KEYS[7] rowhints  KEYS[8] rowcursor  (dropped: the seats start over)
  KEYS[9] rows      best-available row lists (rewritten; hold_best_available.lua)
  KEYS[10 .. 9+3g]  per general-admission section: ga, gaq, gaexp (g sections)
  KEYS[10+3g ..]    per buyer with bought seats: {ev:E}:buyer:<buyerId>
  ARGV[1] JSON {state, ttlMs, limit, maxExtensions, maxLifetimeMs,
                wrRate, wrMax, wrSessionMs (the waiting room's settings, read by queue_step.lua),
                wrAdaptive (adaptive admission's settings as JSON, '' when off; src/queue/adaptive-admission.ts),
                soldSeats: [seatId...], ga: [[capacity, sold]...] (KEYS order),
                buyers: [bought...] (KEYS order),
                rows: [field, chunk, field, chunk...] (src/events/layout.ts bestAvailableRowChunks)}
  ARGV[2] layout JSON (stored as is)

  Returns {epoch, version}
]]
--@include common

local cfg = cjson.decode(ARGV[1])
-- The epoch is a timestamp, not a counter: after Redis loses the event's keys
-- a counter would start over and make surviving hold hashes look current.
local previous = tonumber(redis.call('HGET', KEYS[1], 'epoch')) or 0
local epoch = tostring(math.max(previous + 1, now_ms()))
redis.call('HSET', KEYS[1], 'epoch', epoch)
redis.call('HSET', KEYS[1], 'state', cfg.state, 'ttl', cfg.ttlMs, 'limit', cfg.limit,
  'maxext', cfg.maxExtensions, 'maxlife', cfg.maxLifetimeMs, 'wr_rate', cfg.wrRate, 'wr_max', cfg.wrMax,
  'wr_session_ms', cfg.wrSessionMs, 'wr_adaptive', cfg.wrAdaptive)
redis.call('SET', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[4], KEYS[7], KEYS[8], KEYS[9])
chunked('HSET', KEYS[9], cfg.rows)

local sold = {}
for i = 1, #cfg.soldSeats do
  sold[#sold + 1] = cfg.soldSeats[i]
  sold[#sold + 1] = 'S|rebuild'
end
chunked('HSET', KEYS[2], sold)

local g = #cfg.ga
for i = 1, g do
  local base = 10 + (i - 1) * 3
  redis.call('DEL', KEYS[base + 1], KEYS[base + 2])
  redis.call('HSET', KEYS[base], 'capacity', cfg.ga[i][1], 'held', 0, 'sold', cfg.ga[i][2])
end
for i = 1, #cfg.buyers do
  redis.call('HSET', KEYS[9 + 3 * g + i], 's' .. epoch, cfg.buyers[i])
end

-- Start the change stream over: watchers resnapshot on the reset entry, and a
-- version key lost without its stream cannot collide with old entries.
redis.call('DEL', KEYS[6])
local version = log_change(KEYS[5], KEYS[6], {'t', 'R'})
return {tostring(epoch), tostring(version)}
