#!lua flags=allow-oom
-- Read-and-touch in one round trip. A read never grows memory, so it may run at maxmemory.
-- KEYS: idx exp stats lfu entry   ARGV: prefix by_freq key touch(0/1) version
-- Returns false (miss) or {payload, ms until expiry (-1: none), compute ms}. An entry
-- written by another version of the code is removed and is a miss.
local key, entry, version = ARGV[3], KEYS[5], ARGV[5]
local now = now_ms()
purge_expired(now, 64)
local found = redis.call('HMGET', entry, 'v', 'x', 'd', 'ver')
local payload = found[1]
if payload and version ~= '' and found[4] ~= version then
    remove_entry(key, now)
    redis.call('HINCRBY', STATS, 'invalidations', 1)
    payload = false
end
if not payload then
    count_removal(remove_entry(key, now), 'evictions')
    redis.call('HINCRBY', STATS, 'misses', 1)
    notify()
    return false
end
local reads = redis.call('HINCRBY', entry, 'n', 1)
redis.call('HSET', entry, 'a', now)
if ARGV[4] == '1' then
    place(key, reads, redis.call('HINCRBY', STATS, 'tick', 1))
end
redis.call('HINCRBY', STATS, 'hits', 1)
notify()
local expires = tonumber(found[2]) or 0
local remaining = -1
if expires > 0 then
    remaining = expires - now
end
return {payload, remaining, tonumber(found[3]) or 0}
