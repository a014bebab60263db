"""The Redis store's Lua scripts.  Redis runs a script atomically, so a conditional append needs
no WATCH retries under contention, and a re-sent script after a lost reply fails its condition
(or finds its idempotency record) instead of writing twice.  Every script touches the keys of
one session, which share its hash tag: one Redis Cluster slot.  Return codes shared by the
scripts follow (``replies.py`` maps them to errors).
"""

from .metric_scripts import TRIM_METRICS

NOT_FOUND, NO_STATE, MOVED, REUSED, DAMAGED, IN_PARTS, OTHER_PARTS, REPLACED = -1, -2, -3, -4, -5, -6, -7, -8

# With a positive idle TTL, a write refreshes the expiry of every session key it is given, so a
# session that nobody calls expires whole; an expired session is simply missing.
REFRESH = """
local function refresh(ttl, ...)
  if tonumber(ttl) > 0 then for _, i in ipairs({...}) do redis.call('EXPIRE', KEYS[i], ttl) end end
end
"""

# An idempotency record is "<request digest>\n<first answer>".  `replayed` answers the first
# answer when the request repeats one, false when its key came with another request, nil when
# the key is new (or the call has none); `remember` writes the record of a call that has a key.
_IDEMPOTENCY_CHECK = """
local function replayed(key, request)
  if request == '' then return nil end
  local record = redis.call('GET', key)
  if not record then return nil end
  local cut = string.find(record, '\\n', 1, true)
  if string.sub(record, 1, cut - 1) ~= request then return false end
  return string.sub(record, cut + 1)
end
local function remember(key, request, answer, ttl)
  if request ~= '' then redis.call('SET', key, request .. '\\n' .. answer, 'EX', ttl) end
end
"""

# A trace point starts with its step as a little-endian float64 (``domain.trace``): read in plain
# Lua, which every Redis and the embedded engine run alike.
_STEP_OF = """
local function step_of(p)
  local b1, b2, b3, b4, b5, b6, b7, b8 = string.byte(p, 1, 8)
  local exponent = (b8 % 128) * 16 + math.floor(b7 / 16)
  if exponent == 0 then return 0 end
  local mantissa = ((((((b7 % 16) * 256 + b6) * 256 + b5) * 256 + b4) * 256 + b3) * 256 + b2) * 256 + b1
  return math.ldexp(1 + mantissa / 2^52, exponent - 1023)
end
"""

# A checkpoint (up to 4 float32 vectors of d: x, m, v, v_hat) never passes through Lua: copied in
# and out of a script's Lua strings, it holds Redis (every client) far longer than a plain SET or
# GET of it (``tests/service/test_max_work.py`` polls /healthz meanwhile).  The store SETs it
# under a staged key in the session's slot; a script that accepts it RENAMEs that key into place
# (O(1)) and drops the staged key's own expiry.
_TAKE_STAGED = """
local function take_staged(staged, checkpoint)
  redis.call('RENAME', staged, checkpoint)
  redis.call('PERSIST', checkpoint)
end
"""

# KEYS: meta, checkpoint, idempotency, staged checkpoint
# ARGV: tenant, created, config, name, '1' with a staged checkpoint else '', request-or-empty, answer, ttl, idle ttl,
#       config vectors (a frame, or empty)
CREATE = REFRESH + _IDEMPOTENCY_CHECK + _TAKE_STAGED + """
local reply = replayed(KEYS[3], ARGV[6])
if reply == false then return {-4} end
if reply then return {1, reply} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
redis.call('HSET', KEYS[1], 'tenant', ARGV[1], 'config', ARGV[3], 'name', ARGV[4], 'created', ARGV[2],
           'vectors', ARGV[10], 'head', 0, 'ckpt_seq', 0, 'has_state', ARGV[5] == '' and '0' or '1')
if ARGV[5] ~= '' then take_staged(KEYS[4], KEYS[2]) end
remember(KEYS[3], ARGV[6], ARGV[7], ARGV[8])
refresh(ARGV[9], 1, 2)
return {2}
"""

# KEYS: meta, checkpoint, staged checkpoint; ARGV: idle ttl
# Set once: a replica that cached the first x can never be left holding a replaced one.
START = REFRESH + _TAKE_STAGED + """
local m = redis.call('HMGET', KEYS[1], 'head', 'has_state')
if not m[1] then return {-1, 0} end
if m[2] == '1' then return {-2, tonumber(m[1])} end
take_staged(KEYS[3], KEYS[2])
redis.call('HSET', KEYS[1], 'has_state', '1')
refresh(ARGV[1], 1, 2)
return {0, 0}
"""

# KEYS: meta, events, partials, metrics, trace, idempotency, checkpoint
# ARGV: seq, event, metric-or-empty, trace point-or-empty, trace step, trace max points,
#       request-or-empty, ttl, answer, idle ttl, metrics kept (0: all), channel-or-empty,
#       metric bytes kept (0: all), '1' for a whole step, the session's created (REPLACED when it differs:
#       the id was made anew since the caller read it), the history's tag at seq and after the event
#       (``base.chained``), then the parts (field, value, ...)
# A step that closes a split step (partials were there) publishes "<meta key> <seq>" on the
# channel: workers' tells waiting for it in other replicas wake at once.
# Conditional append: two replicas can never both write event seq.  The trace point follows
# domain.trace's rule: kept when its step is a multiple of the stride; when the list is full the
# stride doubles and the points off it go.  A point starts with its step as a float64.
APPEND = REFRESH + _IDEMPOTENCY_CHECK + _STEP_OF + TRIM_METRICS + """
local m = redis.call('HMGET', KEYS[1], 'head', 'has_state', 'trace_stride', 'ckpt_seq', 'created', 'tag')
if not m[1] then return {-1, 0} end
local head = tonumber(m[1])
if ARGV[15] ~= '' and m[5] ~= ARGV[15] then return {-8, head} end
local reply = replayed(KEYS[6], ARGV[7])
if reply == false then return {-4, head} end
if reply then return {1, head, reply} end
if m[2] ~= '1' then return {-2, head} end
local tag = m[6] or ''
if head ~= tonumber(ARGV[1]) or tag ~= ARGV[16] then return {-3, head} end
-- a step told whole over directions reported apart: refused until its own reports come
-- (ARGV[18], ARGV[19], ...: field, value, ...) to be compared with those
if ARGV[14] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  if #ARGV < 18 then return {-6, head} end
  for i = 18, #ARGV, 2 do
    local have = redis.call('HGET', KEYS[3], ARGV[i])
    if have and have ~= ARGV[i + 1] then return {-7, head, ARGV[i]} end
  end
end
-- the journal holds every step since the checkpoint, which exists: else keys were evicted or
-- deleted, and a step appended now would be acknowledged where no replica can read it
if redis.call('RPUSH', KEYS[2], ARGV[2]) ~= head - tonumber(m[4]) + 1 or redis.call('EXISTS', KEYS[7]) == 0 then
  redis.call('RPOP', KEYS[2])
  return {-5, head}
end
-- a step closes the open step and drops its partials; a metric leaves them alone
if ARGV[3] == '' then
  if redis.call('DEL', KEYS[3]) == 1 and ARGV[12] ~= '' then
    redis.call('PUBLISH', ARGV[12], KEYS[1] .. ' ' .. ARGV[1])
  end
else
  redis.call('RPUSH', KEYS[4], ARGV[3])
  trim_metrics(KEYS[1], KEYS[4], #ARGV[3], tonumber(ARGV[11]), tonumber(ARGV[13]))
end
redis.call('HSET', KEYS[1], 'head', head + 1, 'tag', ARGV[17])
if ARGV[4] ~= '' then
  local stride, step = tonumber(m[3] or '1'), tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'trace_last', ARGV[4])
  if step % stride == 0 and redis.call('LLEN', KEYS[5]) >= tonumber(ARGV[6]) then
    stride = stride * 2
    local kept = {}
    for _, p in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
      if step_of(p) % stride == 0 then kept[#kept + 1] = p end
    end
    redis.call('DEL', KEYS[5])
    if #kept > 0 then redis.call('RPUSH', KEYS[5], unpack(kept)) end
    redis.call('HSET', KEYS[1], 'trace_stride', stride)
  end
  if step % stride == 0 then redis.call('RPUSH', KEYS[5], ARGV[4]) end
end
remember(KEYS[6], ARGV[7], ARGV[9], ARGV[8])
refresh(ARGV[10], 1, 2, 3, 4, 5, 7)
return {0, head + 1}
"""

# KEYS: meta, events, checkpoint; ARGV: since (-1 for "from the checkpoint"), '1' when the caller
# GETs the checkpoint itself (in the same transaction: it then answers false in its place).
# Answers {0, head, start, checkpoint, events, the history's tag}.
READ = """
local m = redis.call('HMGET', KEYS[1], 'head', 'ckpt_seq', 'has_state', 'tag')
if not m[1] then return {-1} end
if m[3] ~= '1' then return {-2} end
local head, base, since, tag = tonumber(m[1]), tonumber(m[2]), tonumber(ARGV[1]), m[4] or ''
if since < base or since > head then
  local checkpoint = ARGV[2] ~= '1' and redis.call('GET', KEYS[3])
  return {0, head, base, checkpoint, redis.call('LRANGE', KEYS[2], 0, -1), tag}
end
return {0, head, since, false, redis.call('LRANGE', KEYS[2], since - base, -1), tag}
"""

# KEYS: meta, events, checkpoint, staged checkpoint; ARGV: seq, idle ttl
SAVE_CHECKPOINT = REFRESH + _TAKE_STAGED + """
local m = redis.call('HMGET', KEYS[1], 'head', 'ckpt_seq')
if not m[1] then return 0 end
local head, base, seq = tonumber(m[1]), tonumber(m[2]), tonumber(ARGV[1])
if seq <= base or seq > head then return 0 end
take_staged(KEYS[4], KEYS[3])
redis.call('LTRIM', KEYS[2], seq - base, -1)
redis.call('HSET', KEYS[1], 'ckpt_seq', seq)
refresh(ARGV[2], 1, 2, 3)
return 1
"""

# KEYS: meta, trace; ARGV: since, tail (-1: all).  Cut in the server: a poll moves new points only.
READ_TRACE = _STEP_OF + """
local m = redis.call('HMGET', KEYS[1], 'head', 'trace_stride', 'trace_last')
if not m[1] then return {-1} end
local tail = tonumber(ARGV[2])
if tail == 0 then return {0, m[2] or '1', m[3] or false, {}} end
local points = redis.call('LRANGE', KEYS[2], tail > 0 and -tail or 0, -1)
local since, cut = tonumber(ARGV[1]), #points + 1
while cut > 1 and step_of(points[cut - 1]) >= since do cut = cut - 1 end
local kept = {}
for i = cut, #points do kept[#kept + 1] = points[i] end
return {0, m[2] or '1', m[3] or false, kept}
"""

# KEYS: every key of one session; ARGV: idle ttl.  A read restarts the idle time.  With 0 (never)
# it takes off what expiries a service with a TTL left, from every key at once: taken off write by
# write (each writes some keys) the others would expire, leaving a session with half its records.
TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local command = tonumber(ARGV[1]) > 0 and 'EXPIRE' or 'PERSIST'
for i = 1, #KEYS do
  if command == 'EXPIRE' then redis.call('EXPIRE', KEYS[i], ARGV[1]) else redis.call('PERSIST', KEYS[i]) end
end
return 1
"""
