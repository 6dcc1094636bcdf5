#!lua flags=allow-oom
-- Records one pressure action in the capped events stream, even at maxmemory (the agent
-- acts exactly then, and what it did must not be lost).
-- KEYS: events   ARGV: maxlen field value ...
local fields = {}
for i = 2, #ARGV do
    fields[#fields + 1] = ARGV[i]
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
