"""The metric history's rules, in Lua: the trim inside the append (``scripts.APPEND``) and the
paged and sampled reads.  The embedded store runs the same scripts."""

# The metric history keeps the newest reports within a count and a byte cap, dropping the oldest
# first.  The meta hash counts the history's bytes ('metrics_bytes') and the reports ever dropped
# ('metrics_dropped'): a report's cursor is dropped + its index, so a cursor stays valid while the
# front is trimmed.  A history written before the bytes were counted is counted once.
TRIM_METRICS = """
local function trim_metrics(meta, list, added, keep, max_bytes)
  local bytes = redis.call('HGET', meta, 'metrics_bytes')
  if bytes then
    bytes = tonumber(bytes) + added
  else
    bytes = 0
    for _, row in ipairs(redis.call('LRANGE', list, 0, -1)) do bytes = bytes + #row end
  end
  local length, dropped = redis.call('LLEN', list), 0
  while length > 1 and ((keep > 0 and length > keep) or (max_bytes > 0 and bytes > max_bytes)) do
    bytes = bytes - #redis.call('LPOP', list)
    length, dropped = length - 1, dropped + 1
  end
  redis.call('HSET', meta, 'metrics_bytes', bytes)
  if dropped > 0 then redis.call('HINCRBY', meta, 'metrics_dropped', dropped) end
end
"""

# KEYS: meta, metrics; ARGV: cursor (-1: none), last (-1: none), limit, max bytes, points (0: a page)
# A page: up to `limit` reports from `cursor` (or the last `last`, or the oldest kept), stopped
# before `max bytes`; a cursor trimmed away since reads on from the oldest kept.  With points: at
# most that many reports evenly spaced over the history, the newest included, as many as fit.
# Answers {0, end (the cursor after the newest), next cursor (-1: none), reports}, or {-1}.
READ_METRICS = """
local CHUNK = 64
local m = redis.call('HMGET', KEYS[1], 'head', 'metrics_dropped', 'metrics_bytes')
if not m[1] then return {-1} end
local first, length = tonumber(m[2] or '0'), redis.call('LLEN', KEYS[2])
local stop, budget = first + length, tonumber(ARGV[4])
local items, size = {}, 0
local function take(row)  -- false once the budget is spent; the first report always goes
  if #items > 0 and size + #row + 2 > budget then return false end
  items[#items + 1], size = row, size + #row + 2
  return true
end
local points = math.min(tonumber(ARGV[5]), length)
if points > 0 then
  if m[3] and tonumber(m[3]) > 0 then  -- no more samples than fit at the mean report's size
    points = math.max(1, math.min(points, math.floor(budget * length / (tonumber(m[3]) + 2 * length))))
  end
  local previous = -1
  for k = points - 1, 0, -1 do  -- newest first, so the newest is kept whatever the budget
    local i = points == 1 and length - 1 or math.floor(k * (length - 1) / (points - 1))
    if i ~= previous and not take(redis.call('LINDEX', KEYS[2], i)) then break end
    previous = i
  end
  local oldest_first = {}
  for k = #items, 1, -1 do oldest_first[#oldest_first + 1] = items[k] end
  return {0, stop, -1, oldest_first}
end
local start = tonumber(ARGV[1])
if start < 0 then start = tonumber(ARGV[2]) >= 0 and stop - tonumber(ARGV[2]) or first end
if start < first then start = first end
-- in chunks: a page of a few large reports must not copy the whole history into the script
local n, limit, full = 0, tonumber(ARGV[3]), false
while not full and n < limit and start + n < stop do
  local from = start - first + n
  local rows = redis.call('LRANGE', KEYS[2], from, from + math.min(CHUNK, limit - n) - 1)
  for _, row in ipairs(rows) do
    if not take(row) then full = true break end
    n = n + 1
  end
end
return {0, stop, start + n < stop and start + n or -1, items}
"""
