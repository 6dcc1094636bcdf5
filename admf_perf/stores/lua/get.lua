#!lua flags=allow-oom
-- Read-and-touch in one round trip. A read never grows memory, so it may run at maxmemory.
-- KEYS: idx exp stats lfu entry   ARGV: prefix by_freq key touch(0/1) version client_ms
-- Returns false (miss) or {payload, ms until expiry (-1: none), compute ms}. An entry
-- written by another version of the code is removed and is a miss.
-- The hit path reads no clock (TIME costs more than the rest): the last-access time is
-- the caller's, and expired entries need no purge here, as Redis already hides them and
-- every write and stats call purges them.
local key, entry, version = ARGV[3], KEYS[5], ARGV[5]
local found = redis.call('HMGET', entry, 'v', 'x', 'd', 'ver', 'n')
local payload = found[1]
if not payload or (version ~= '' and found[4] ~= version) then
    local now = now_ms()
    if payload then
        remove_entry(key, now)
        redis.call('HINCRBY', STATS, 'invalidations', 1)
    else
        count_removal(remove_entry(key, now), 'evictions')
    end
    redis.call('HINCRBY', STATS, 'misses', 1)
    notify()
    return false
end
local reads = (tonumber(found[5]) or 0) + 1
redis.call('HSET', entry, 'n', reads, 'a', ARGV[6])
if ARGV[4] == '1' then
    place(key, reads, redis.call('HINCRBY', STATS, 'tick', 1))
end
redis.call('HINCRBY', STATS, 'hits', 1)
local expires = tonumber(found[2]) or 0
local remaining = -1
if expires > 0 then
    remaining = math.max(0, expires - tonumber(ARGV[6]))
end
return {payload, remaining, tonumber(found[3]) or 0}
