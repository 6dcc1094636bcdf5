#!lua flags=allow-oom
-- Takes the pressure lease if it is free, or extends it if this agent holds it; 1 if the
-- caller holds it afterwards. A script (not a bare SET NX PX) so that it still works when
-- the server is at maxmemory with noeviction, which is when the lease matters most.
-- KEYS: lease   ARGV: token ttl_ms
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
