--[[
  Sets an event's sale state in its live state, only where that state is
  loaded (a partial meta hash would look like a loaded event).

  KEYS[1] meta  {ev:E}:meta
  ARGV[1] state: SCHEDULED | OPEN | PAUSED | CLOSED

  Returns 1 when set, 0 when the event's inventory is not loaded.
]]
if redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
  return 1
end
return 0
