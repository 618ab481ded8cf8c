--[[
  The benchmark's one-script baseline (NoopService.Eval): the least work a
  Redis script call can do, one write, so Eval/Noop measures what a single
  script round trip costs a call on this machine. Not used by Ticketing itself.

  KEYS[1] counter  {bench}:eval
  Returns the counter's new value.
]]
return redis.call('INCR', KEYS[1])
