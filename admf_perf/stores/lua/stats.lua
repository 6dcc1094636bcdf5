#!lua flags=allow-oom
-- Purges up to ARGV[3] expired entries, then returns {size, more_expired(0/1), counters...}
-- so that the size is exact once more_expired is 0.
-- KEYS: idx exp stats lfu   ARGV: prefix by_freq limit
local now = now_ms()
purge_expired(now, tonumber(ARGV[3]))
notify()
local more = redis.call('ZCOUNT', EXP, '-inf', now) > 0 and 1 or 0
return {redis.call('ZCARD', IDX), more, redis.call('HGETALL', STATS)}
