--[[
  Sets an event's waiting-room settings in its live state (UpdateWaitingRoom),
  only where that state is loaded (a partial meta hash would look like a
  loaded event). queue_step.lua reads them from the meta hash on every step,
  so every API process uses them from its next step; the layout JSON gets
  them too, for processes that load it later.

  KEYS[1] meta    {ev:E}:meta   (fields wr_rate, wr_max, wr_session_ms, wr_adaptive)
  KEYS[2] layout  {ev:E}:layout
  ARGV[1] admissions per second ('' keeps the current rate: an adaptive rate goes on from where it is)
  ARGV[2] max shopping at once   ARGV[3] session ms
  ARGV[4] the layout JSON with these settings (stored as is)
  ARGV[5] adaptive admission's settings as JSON ('' when off; src/queue/adaptive-admission.ts reads them)

  Returns 1 when set, 0 when the event's inventory is not loaded.
]]
if redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then
  redis.call('HSET', KEYS[1], 'wr_max', ARGV[2], 'wr_session_ms', ARGV[3], 'wr_adaptive', ARGV[5])
  if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'wr_rate', ARGV[1]) end
  redis.call('SET', KEYS[2], ARGV[4])
  return 1
end
return 0
