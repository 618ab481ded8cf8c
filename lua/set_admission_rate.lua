--[[
  Adaptive admission's decision (src/queue/adaptive-admission.ts): sets the
  event's current admission rate, which every API process's next admission
  step reads (queue_step.lua), only while adaptive admission is on and the
  rate is still the one the decision started from, so an UpdateWaitingRoom
  in between wins.

  KEYS[1] meta    {ev:E}:meta   (fields wr_rate, wr_adaptive)
  ARGV[1] the rate the decision started from   ARGV[2] the new rate

  Returns 1 when set, 0 when not (not loaded, adaptive admission off, or the rate changed meanwhile).
]]
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'wr_rate', 'wr_adaptive')
if not cur[1] or not cur[3] or cur[3] == '' or tonumber(cur[2]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'wr_rate', ARGV[2])
return 1
