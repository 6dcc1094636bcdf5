#!lua flags=allow-oom
-- Extends a single-flight lock's lease if this caller still owns it; 1 if it did.
-- KEYS: lock   ARGV: token lease_ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
