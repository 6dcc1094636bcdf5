#!lua flags=allow-oom
-- One host's report in one round trip: the latest snapshot (expiring after ttl_ms, so a
-- silent host drops out), a capped history stream, and the host in the index of hosts.
-- The history is capped exactly (a short stream: trimming one entry is cheap).
-- Runs at maxmemory too: a few hundred bytes per host, replaced or capped every interval,
-- and what operators look at exactly when memory is short.
-- KEYS: host_key stream_key hosts   ARGV: snapshot ttl_ms maxlen host now_s keep_s field value ...
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fields = {}
for i = 7, #ARGV do
    fields[#fields + 1] = ARGV[i]
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[5]) - tonumber(ARGV[6]))
return 1
