"""The Lua scripts of split and shared steps (``redis_split``): a worker's part of the open step,
and leases of its directions, each script on one session's keys."""

from __future__ import annotations

from .scripts import REFRESH

# The reports ARGV[first], ARGV[first + 1], ... (field, value, ...) of a step's directions: all
# or none.  The first report of a direction wins, so a re-report with other values changes
# nothing, not even the part's other directions (the caller refuses it whole, with 409).
_ADD_PARTS = """
local function add_parts(partials, first)
  for i = first, #ARGV, 2 do
    local have = redis.call('HGET', partials, ARGV[i])
    if have and have ~= ARGV[i + 1] then return false end
  end
  for i = first, #ARGV, 2 do redis.call('HSETNX', partials, ARGV[i], ARGV[i + 1]) end
  return true
end
"""

# The session's created (ARGV[n], '' for any) against the meta's: a replica's copy of a session
# deleted and made again under its id must not write into the new one (REPLACED, nothing written).
_REPLACED = """
local function replaced(meta, created)
  return created ~= '' and redis.call('HGET', meta, 'created') ~= created
end
"""

# KEYS: meta, partials; ARGV: idle ttl, created, field, value, field, value, ...
ADD_PARTIALS = REFRESH + _ADD_PARTS + _REPLACED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if replaced(KEYS[1], ARGV[2]) then return {-8} end
if add_parts(KEYS[2], 3) then refresh(ARGV[1], 1, 2) end
return redis.call('HGETALL', KEYS[2])
"""

# Granted in one script, by Redis's clock: two replicas can never lease one direction to two
# holders, and their own clocks never matter.  A lease is "<expiry ms> <holder>", under the
# field "<step>:<index>".  Leases of step - 1 and later are kept: a worker that reports its part
# of the open step t may lease its directions of t + 1 at once (``ADD_PARTIALS_AND_LEASE``) while
# other workers still hold theirs of t; older ones go.  Answers {0, soonest expiry of another
# holder's live lease in ms (-1: none), ms until the soonest granted lease runs out and the time
# it does, in ms by Redis's clock (-1, -1: none granted; a lease held already keeps its expiry),
# granted index, ...}, or {-1, 0} / {-3, head} (another head, or another history: ``history``).
_LEASE = """
local function lease(meta, partials, leases, seq, tag, step, q, want, holder, seconds)
  local m = redis.call('HMGET', meta, 'head', 'tag')
  if not m[1] then return {-1, 0} end
  if tonumber(m[1]) ~= tonumber(seq) or (m[2] or '') ~= tag then return {-3, tonumber(m[1])} end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local prefix, oldest, q, want = step .. ':', tonumber(step) - 1, tonumber(q), tonumber(want)
  local ttl = math.floor(tonumber(seconds) * 1000)
  local mine, taken, soonest = {}, {}, -1
  local fields = redis.call('HGETALL', leases)
  for i = 1, #fields, 2 do
    local f, v = fields[i], fields[i + 1]
    if string.sub(f, 1, #prefix) ~= prefix then
      if tonumber(string.sub(f, 1, string.find(f, ':', 1, true) - 1)) < oldest then redis.call('HDEL', leases, f) end
    else
      local cut = string.find(v, ' ', 1, true)
      local expiry, index = tonumber(string.sub(v, 1, cut - 1)), tonumber(string.sub(f, #prefix + 1))
      if expiry > now then
        if string.sub(v, cut + 1) == holder then mine[index] = expiry
        else
          taken[index] = true
          if soonest < 0 or expiry - now < soonest then soonest = expiry - now end
        end
      end
    end
  end
  -- what the holder still holds first (a retried ask gets its lease back), then free directions
  local granted, held, held_at = {}, -1, -1
  for pass = 1, 2 do
    for i = 0, q - 1 do
      if #granted >= want then break end
      if (pass == 1) == (mine[i] ~= nil) and not taken[i] and redis.call('HEXISTS', partials, prefix .. i) == 0 then
        local expiry = mine[i] or now + ttl
        if pass == 2 then redis.call('HSET', leases, prefix .. i, expiry .. ' ' .. holder) end
        if held < 0 or expiry - now < held then held, held_at = expiry - now, expiry end
        granted[#granted + 1] = i
      end
    end
  end
  table.sort(granted)
  return {0, soonest, held, held_at, unpack(granted)}
end
"""

# KEYS: meta, partials, leases; ARGV: seq, step, directions, count, holder, seconds, idle ttl, created,
# the history's tag at seq
LEASE = REFRESH + _LEASE + _REPLACED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
if replaced(KEYS[1], ARGV[8]) then return {-8, 0} end
local reply = lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[9], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
if reply[1] == 0 then refresh(ARGV[7], 1, 3) end
return reply
"""

# KEYS: meta, partials, leases
# ARGV: idle ttl, seq, next step, directions, count, holder, seconds, created, the history's tag at
#       seq, field, value, ...
# ADD_PARTIALS, then LEASE of the next step while the head is still seq: a worker's part and its
# lease on the step after, in one round trip.  Answers {all partials, LEASE's answer}; a part
# refused for other values leases nothing ({all partials, {-5}}).
ADD_PARTIALS_AND_LEASE = REFRESH + _LEASE + _ADD_PARTS + _REPLACED + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if replaced(KEYS[1], ARGV[8]) then return {-8} end
if not add_parts(KEYS[2], 10) then return {redis.call('HGETALL', KEYS[2]), {-5}} end
refresh(ARGV[1], 1, 2)
local leased = lease(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[9], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
if leased[1] == 0 then refresh(ARGV[1], 1, 3) end
return {redis.call('HGETALL', KEYS[2]), leased}
"""
