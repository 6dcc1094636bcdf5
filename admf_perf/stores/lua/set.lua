#!lua
-- Write-and-evict in one round trip; refused before it runs when the server is at
-- maxmemory (no flags: deny-oom), so it never writes past the limit.
-- KEYS: idx exp stats lfu entry
-- ARGV: prefix by_freq key payload ttl_ms max_size(0=none) compute_ms version
-- Returns the number of entries evicted to make room.
local key, entry, payload = ARGV[3], KEYS[5], ARGV[4]
local ttl, max_size = tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
purge_expired(now, 256)
local tick = redis.call('HINCRBY', STATS, 'tick', 1)
local reads = 0
local evicted = 0
if redis.call('EXISTS', entry) == 1 then
    reads = tonumber(redis.call('HGET', entry, 'n')) or 0
else
    count_removal(remove_entry(key, now), 'evictions')  -- a stale index record of this key
    if max_size > 0 then
        local excess = redis.call('ZCARD', IDX) - max_size + 1
        if excess > 0 then
            local victims = redis.call('ZRANGE', IDX, 0, excess - 1)
            for _, member in ipairs(victims) do
                local kind = remove_entry(key_of(member), now)
                if kind == 'expired' then
                    redis.call('HINCRBY', STATS, 'expirations', 1)
                elseif kind then
                    evicted = evicted + 1
                end
            end
            redis.call('HINCRBY', STATS, 'evictions', evicted)
        end
    end
end
local expires = 0
if ttl > 0 then
    expires = now + ttl
end
redis.call('HSET', entry, 'v', payload, 'c', now, 'a', now, 'n', reads, 'x', expires,
    'd', ARGV[7], 'ver', ARGV[8])
if ttl > 0 then
    redis.call('PEXPIREAT', entry, expires)
    redis.call('ZADD', EXP, expires, key)
else
    redis.call('PERSIST', entry)
    redis.call('ZREM', EXP, key)
end
place(key, reads, tick)
redis.call('HINCRBY', STATS, 'sets', 1)
table.insert(CHANGED, key)
notify()
return evicted
