package guestmap

import "github.com/redis/go-redis/v9"

// The Lua scripts are the compare-and-act steps: each runs atomically in
// Redis, so a check of the lease token and the writes it guards cannot be
// separated by another client's command.

// A pair lease has a second key, holder, naming who holds it (for
// reports). The scripts that set, extend and delete the lease do the same
// to holder in the same step, with the same TTL, and only after the token
// compare, so holder never names anyone but the token's owner. The lease
// key alone decides who holds the pair: holder may be missing (a lease
// taken by a ctsync without holders), never the other way round.

// scriptAcquire: KEYS lease, fence, holder; ARGV token, ttl ms, holder
// name. Returns the fence number, or -1 when another token holds the
// lease. Re-running it with the same token (a client retry after a lost
// reply) succeeds again.
var scriptAcquire = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if v then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
`)

// scriptExtend: KEYS lease[, holder]; ARGV token, ttl ms[, holder name].
// 1 when extended, else 0. User locks pass no holder.
var scriptExtend = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if KEYS[2] then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) end
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// scriptRelease: KEYS lease[, holder]; ARGV token. 1 when released, else 0.
var scriptRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if KEYS[2] then redis.call('DEL', KEYS[2]) end
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// scriptLeaseHolder: KEYS lease, holder. {} when the lease is free, else
// {remaining ms (-1: no expiry), holder name or ""}, read atomically.
var scriptLeaseHolder = redis.NewScript(`
local t = redis.call('PTTL', KEYS[1])
if t == -2 then return {} end
return {t, redis.call('GET', KEYS[2]) or ''}
`)

// scriptLockUser: KEYS lock, map; ARGV token, ttl ms, source ID.
// Returns {0, holder's value} when held by another token, else
// {1[, entry]}.
var scriptLockUser = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return {0, v} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local e = redis.call('HGET', KEYS[2], ARGV[3])
if e then return {1, e} end
return {1}
`)

// scriptApply is one fenced chunk of a Batch.
// KEYS: 1 lease, 2 map, 3 delta, 4 status, 5 quar, 6 staged, 7 decide,
// 8 log, 9 fast (the fast lane's delta link), 10 groups, 11 glink (the
// groups' delta link), 12.. user lock keys to release.
// ARGV: 1 token, 2 flags (M drop map, D drop delta, Q clear quarantine,
// G drop groups and their link, F a fast lane link follows the delta
// link, L a group link follows them),
// 3 log cap, 4 #delete, 5 #put, 6 #unstage, 7 #stage, 8 #log,
// 9 "1" when a delta link follows, 10 status JSON or "", 11 quarantine
// JSON or "", 12 #unlock, 13 #group delete, 14 #group put; then from 15:
// delete IDs, put (ID, value) pairs, unstage IDs, stage (ID, JSON) pairs,
// log JSON, group delete IDs, group put (ID, value) pairs, the delta
// link, the fast lane link, the group link ("" deletes it), unlock
// tokens.
var scriptApply = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED lease moved on')
end
local f = ARGV[2]
if string.find(f, 'M', 1, true) then redis.call('UNLINK', KEYS[2]) end
if string.find(f, 'D', 1, true) then redis.call('DEL', KEYS[3]) end
if string.find(f, 'Q', 1, true) then redis.call('DEL', KEYS[5]) end
if string.find(f, 'G', 1, true) then redis.call('UNLINK', KEYS[10], KEYS[11]) end
local i = 15
for _ = 1, tonumber(ARGV[4]) do
  redis.call('HDEL', KEYS[2], ARGV[i]); i = i + 1
end
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1]); i = i + 2
end
for _ = 1, tonumber(ARGV[6]) do
  redis.call('HDEL', KEYS[6], ARGV[i]); redis.call('HDEL', KEYS[7], ARGV[i]); i = i + 1
end
for _ = 1, tonumber(ARGV[7]) do
  redis.call('HSET', KEYS[6], ARGV[i], ARGV[i+1]); i = i + 2
end
for _ = 1, tonumber(ARGV[8]) do
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[i]); i = i + 1
end
for _ = 1, tonumber(ARGV[13]) do
  redis.call('HDEL', KEYS[10], ARGV[i]); i = i + 1
end
for _ = 1, tonumber(ARGV[14]) do
  redis.call('HSET', KEYS[10], ARGV[i], ARGV[i+1]); i = i + 2
end
if ARGV[9] == '1' then redis.call('SET', KEYS[3], ARGV[i]); i = i + 1 end
if string.find(f, 'F', 1, true) then redis.call('SET', KEYS[9], ARGV[i]); i = i + 1 end
if string.find(f, 'L', 1, true) then
  if ARGV[i] == '' then redis.call('DEL', KEYS[11]) else redis.call('SET', KEYS[11], ARGV[i]) end
  i = i + 1
end
if ARGV[10] ~= '' then redis.call('SET', KEYS[4], ARGV[10]) end
if ARGV[11] ~= '' then redis.call('SET', KEYS[5], ARGV[11]) end
for j = 1, tonumber(ARGV[12]) do
  if redis.call('GET', KEYS[11+j]) == ARGV[i] then redis.call('DEL', KEYS[11+j]) end
  i = i + 1
end
return 1
`)

// scriptDecide: KEYS staged, decide; ARGV decision JSON ("" = pending),
// then source IDs. Returns how many staged IDs were decided.
var scriptDecide = redis.NewScript(`
local n = 0
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if ARGV[1] == '' then redis.call('HDEL', KEYS[2], ARGV[i])
    else redis.call('HSET', KEYS[2], ARGV[i], ARGV[1]) end
    n = n + 1
  end
end
return n
`)

var allScripts = []*redis.Script{scriptAcquire, scriptExtend, scriptRelease, scriptLeaseHolder, scriptLockUser, scriptApply, scriptDecide}
