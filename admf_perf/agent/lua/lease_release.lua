#!lua flags=allow-oom
-- Gives the pressure lease back if (and only if) this agent still holds it.
-- KEYS: lease   ARGV: token
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
