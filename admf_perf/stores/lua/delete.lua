#!lua flags=allow-oom
-- Removes the named entries (literal keys), keeping the index and stats exact.
-- KEYS: idx exp stats lfu entry...   ARGV: prefix by_freq counter key...
-- `counter` is the stat a removal of a live entry counts as ('invalidations' or 'corrupt').
-- Returns how many live entries were removed.
local now = now_ms()
local removed = 0
for i = 4, #ARGV do
    local kind = remove_entry(ARGV[i], now)
    count_removal(kind, ARGV[3])
    if kind == 'live' then
        removed = removed + 1
    end
end
notify()
return removed
