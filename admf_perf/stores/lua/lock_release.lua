#!lua flags=allow-oom
-- Releases a single-flight lock if (and only if) this caller still owns it, and tells
-- the waiters on ns:{name}:done which key is done ('ok' or 'failed').
-- KEYS: lock   ARGV: token channel message
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
