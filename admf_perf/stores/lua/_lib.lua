-- Shared by every cache script (prepended when the scripts are loaded).
-- Keys of one cache, all under one hash tag:  ns:{name}:idx   eviction order (zset)
--   ns:{name}:exp   expiry times in ms (zset)      ns:{name}:stats  counters + clock (hash)
--   ns:{name}:lfu   LFU only: key -> index member  ns:{name}:e:KEY  one entry (hash:
--   v payload, c created ms, a last access ms, n reads, x expires ms or 0, d compute ms,
--   ver the version of the code that wrote it)
-- Every removal and write is published on ns:{name}:inv (a msgpack list of keys) so that
-- near-caches in other processes drop their copies.
-- LFU index members are '%016x:' .. key (the clock in hex) so equal read counts sort by
-- recency; every other strategy uses the key itself and the clock as the score.

local IDX, EXP, STATS, LFU = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local PREFIX = ARGV[1]
local BY_FREQ = ARGV[2] == '1'
local CHANNEL = string.sub(PREFIX, 1, #PREFIX - 2) .. 'inv'
local CHANGED = {}

local function notify()
    if #CHANGED > 0 then
        redis.call('PUBLISH', CHANNEL, cmsgpack.pack(CHANGED))
    end
end

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function member_of(key)
    if BY_FREQ then
        return redis.call('HGET', LFU, key)
    end
    return key
end

local function key_of(member)
    if BY_FREQ then
        return string.sub(member, 18)
    end
    return member
end

-- Removes an entry and its index records; returns what it was: 'live', 'expired'
-- (its TTL had passed), 'lost' (indexed, but the server dropped it) or false.
local function remove_entry(key, now)
    local member = member_of(key)
    if not member or not redis.call('ZSCORE', IDX, member) then
        return false
    end
    local expires = tonumber(redis.call('ZSCORE', EXP, key))
    redis.call('ZREM', IDX, member)
    redis.call('ZREM', EXP, key)
    if BY_FREQ then
        redis.call('HDEL', LFU, key)
    end
    local existed = redis.call('DEL', PREFIX .. key) == 1
    table.insert(CHANGED, key)
    if expires and expires <= now then
        return 'expired'
    end
    return existed and 'live' or 'lost'
end

-- Removes up to `limit` expired entries, counting them; returns how many.
local function purge_expired(now, limit)
    local expired = redis.call('ZRANGEBYSCORE', EXP, '-inf', now, 'LIMIT', 0, limit)
    for _, key in ipairs(expired) do
        remove_entry(key, now)
    end
    if #expired > 0 then
        redis.call('HINCRBY', STATS, 'expirations', #expired)
    end
    return #expired
end

-- Counts a removal by what it was; `live_counter` names what a live removal is.
local function count_removal(kind, live_counter)
    if kind == 'live' then
        redis.call('HINCRBY', STATS, live_counter, 1)
    elseif kind == 'expired' then
        redis.call('HINCRBY', STATS, 'expirations', 1)
    elseif kind == 'lost' then
        redis.call('HINCRBY', STATS, 'evictions', 1)
    end
end

-- Places `key` in the eviction order after a read or write (clock = this op's tick).
local function place(key, reads, tick)
    if BY_FREQ then
        local old = redis.call('HGET', LFU, key)
        if old then
            redis.call('ZREM', IDX, old)
        end
        local member = string.format('%016x:', tick) .. key
        redis.call('HSET', LFU, key, member)
        redis.call('ZADD', IDX, reads, member)
    else
        redis.call('ZADD', IDX, tick, key)
    end
end
