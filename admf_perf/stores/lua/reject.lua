#!lua flags=allow-oom
-- A payload that failed to decode or verify: the hit it was counted as becomes a miss,
-- and the entry goes, so the next caller recomputes it.
-- KEYS: idx exp stats lfu entry   ARGV: prefix by_freq key
local kind = remove_entry(ARGV[3], now_ms())
redis.call('HINCRBY', STATS, 'hits', -1)
redis.call('HINCRBY', STATS, 'misses', 1)
redis.call('HINCRBY', STATS, 'corrupt', 1)
notify()
return kind and 1 or 0
