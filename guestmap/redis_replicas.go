package guestmap

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replica keys share the hash tag {replicas}, so the scripts that list
// them touch one Redis Cluster slot: prefix:{replicas}:set holds the IDs,
// prefix:{replicas}:r:ID each replica's JSON with the heartbeat's TTL.

func (s *redisStore) replicaSetKey() string       { return s.prefix + ":{replicas}:set" }
func (s *redisStore) replicaKeyPrefix() string    { return s.prefix + ":{replicas}:r:" }
func (s *redisStore) replicaKey(id string) string { return s.replicaKeyPrefix() + id }
func (s *redisStore) epochKey() string            { return s.prefix + ":epoch" }

// scriptHeartbeat: KEYS set, replica; ARGV id, JSON, ttl ms.
var scriptHeartbeat = redis.NewScript(`
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
`)

// scriptReplicas: KEYS set; ARGV replica key prefix. Returns {JSON, PTTL}
// pairs of the live replicas and drops the IDs whose key lapsed.
var scriptReplicas = redis.NewScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. id
  local v = redis.call('GET', k)
  if v then
    out[#out+1] = v
    out[#out+1] = redis.call('PTTL', k)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`)

// scriptEpoch: KEYS epoch; ARGV new marker JSON. Returns {1, marker} when
// it wrote the marker, {0, marker} when one was there.
var scriptEpoch = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {0, v} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, ARGV[1]}
`)

func (s *redisStore) Heartbeat(ctx context.Context, r Replica, ttl time.Duration) error {
	if err := checkReplica(r.ID, ttl); err != nil {
		return err
	}
	r.Seen, r.Until = s.now(), time.Time{}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("guestmap: encode replica %s: %w", r.ID, err)
	}
	err = s.runScript(ctx, scriptHeartbeat, []string{s.replicaSetKey(), s.replicaKey(r.ID)}, r.ID, string(v), ttl.Milliseconds()).Err()
	if err != nil {
		return s.wrap(ctx, "heartbeat of replica "+r.ID, err)
	}
	if r.ID == s.opts.Holder {
		s.replica.Store(true)
	}
	return nil
}

func (s *redisStore) Leave(ctx context.Context, id string) error {
	pipe := s.c.TxPipeline()
	pipe.Del(ctx, s.replicaKey(id))
	pipe.SRem(ctx, s.replicaSetKey(), id)
	_, err := pipe.Exec(ctx)
	if id == s.opts.Holder {
		s.replica.Store(false)
	}
	return s.wrap(ctx, "remove replica "+id, err)
}

func (s *redisStore) Replicas(ctx context.Context) ([]Replica, error) {
	res, err := s.runScript(ctx, scriptReplicas, []string{s.replicaSetKey()}, s.replicaKeyPrefix()).Slice()
	if err != nil {
		return nil, s.wrap(ctx, "list replicas", err)
	}
	now := s.now()
	var out []Replica
	for i := 0; i+1 < len(res); i += 2 {
		v, _ := res[i].(string)
		ms, _ := res[i+1].(int64)
		var r Replica
		if json.Unmarshal([]byte(v), &r) != nil || r.ID == "" {
			continue // not ours to judge; it lapses with its TTL
		}
		if ms >= 0 {
			r.Until = now.Add(time.Duration(ms) * time.Millisecond)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *redisStore) Epoch(ctx context.Context) (Epoch, error) {
	fresh, _ := json.Marshal(Epoch{ID: newToken()[:16], Created: s.now().UTC()})
	res, err := s.runScript(ctx, scriptEpoch, []string{s.epochKey()}, string(fresh)).Slice()
	if err != nil {
		return Epoch{}, s.wrap(ctx, "read epoch", err)
	}
	if len(res) != 2 {
		return Epoch{}, fmt.Errorf("guestmap: read epoch: unexpected reply: %w", ErrCorrupt)
	}
	v, _ := res[1].(string)
	var e Epoch
	if err := json.Unmarshal([]byte(v), &e); err != nil || e.ID == "" {
		return Epoch{}, fmt.Errorf("guestmap: epoch marker %q: %w", v, ErrCorrupt)
	}
	e.New = res[0] == int64(1)
	return e, nil
}

// User locks taken by a replica that announces itself carry its ID after
// the token ("TOKEN|ID"): when that replica's heartbeat has lapsed (it died
// or lost the store for longer than its TTL, and with it its pair lease),
// the next holder of the pair takes the lock over at once instead of
// waiting out the lock's TTL. Locks of processes that never announce
// themselves (`ctsync once`, `provision`) carry no ID and only expire.
const lockHolderSep = "|"

// lockToken returns the value of a new user lock.
func (s *redisStore) lockToken() string {
	if s.replica.Load() {
		return newToken() + lockHolderSep + s.opts.Holder
	}
	return newToken()
}

// lockHolderGone reports whether the lock value v names a replica whose
// heartbeat has lapsed.
func (s *redisStore) lockHolderGone(ctx context.Context, v string) (bool, error) {
	_, id, ok := strings.Cut(v, lockHolderSep)
	if !ok || id == "" {
		return false, nil
	}
	n, err := s.c.Exists(ctx, s.replicaKey(id)).Result()
	if err != nil {
		return false, s.wrap(ctx, "check lock holder "+id, err)
	}
	return n == 0, nil
}

// scriptStealLock: KEYS lock, map; ARGV the value seen, new token, ttl ms,
// source ID. Takes the lock only if it still holds the value seen (the
// lapsed replica's), then answers like scriptLockUser.
var scriptStealLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local e = redis.call('HGET', KEYS[2], ARGV[4])
if e then return {1, e} end
return {1}
`)
