package guestmap

import (
	"context"
	"time"
)

// Acquire takes the pair's lease and registers the pair, in one round trip.
func (s *redisStore) Acquire(ctx context.Context, pair string, ttl time.Duration) (*Lease, error) {
	if err := checkLeaseArgs(pair, "", ttl); err != nil {
		return nil, err
	}
	token := newToken()
	start := s.now()
	pipe := s.c.Pipeline()
	// EVALSHA inside a pipeline cannot fall back to EVAL by itself; the
	// NOSCRIPT case (after a restart) is retried below with Run.
	keys := []string{s.key(pair, "lease"), s.key(pair, "fence"), s.key(pair, "holder")}
	cmd := scriptAcquire.EvalSha(ctx, pipe, keys, token, ttl.Milliseconds(), s.opts.Holder)
	pipe.SAdd(ctx, s.pairsKey(), pair)
	_, err := pipe.Exec(ctx)
	if isNoScript(cmd.Err()) {
		cmd = s.runScript(ctx, scriptAcquire, keys, token, ttl.Milliseconds(), s.opts.Holder)
		err = cmd.Err()
	}
	if err != nil {
		return nil, s.wrap(ctx, "acquire lease of "+pair, err)
	}
	fence, err := cmd.Int64()
	if err != nil {
		return nil, s.wrap(ctx, "acquire lease of "+pair, err)
	}
	if fence < 0 {
		return nil, ErrHeld
	}
	return newLease(s, pair, "", token, uint64(fence), ttl, s.opts.DriftFactor, start), nil
}

// LockUser takes a per-user lock and re-reads the user's entry.
func (s *redisStore) LockUser(ctx context.Context, pair, sourceID string, ttl time.Duration) (*Lease, *Entry, error) {
	if err := checkLeaseArgs(pair, sourceID, ttl); err != nil {
		return nil, nil, err
	}
	token := s.lockToken()
	start := s.now()
	keys := []string{s.lockKey(pair, sourceID), s.key(pair, "map")}
	res, err := s.runScript(ctx, scriptLockUser, keys, token, ttl.Milliseconds(), sourceID).Slice()
	if err != nil {
		return nil, nil, s.wrap(ctx, "lock user "+sourceID+" of "+pair, err)
	}
	if len(res) == 2 && res[0] == int64(0) {
		// Held: by a replica that is gone, the lock is taken over.
		seen, _ := res[1].(string)
		gone, err := s.lockHolderGone(ctx, seen)
		if err != nil {
			return nil, nil, err
		}
		if gone {
			start = s.now()
			res, err = s.runScript(ctx, scriptStealLock, keys, seen, token, ttl.Milliseconds(), sourceID).Slice()
			if err != nil {
				return nil, nil, s.wrap(ctx, "take over the lock of user "+sourceID+" of "+pair, err)
			}
		}
	}
	if len(res) == 0 || res[0] != int64(1) {
		return nil, nil, ErrHeld
	}
	l := newLease(s, pair, sourceID, token, 0, ttl, s.opts.DriftFactor, start)
	if len(res) < 2 {
		return l, nil, nil
	}
	v, _ := res[1].(string)
	e, err := decodeEntry(sourceID, []byte(v))
	if err != nil {
		return l, nil, err
	}
	return l, &e, nil
}

func (s *redisStore) lockKey(pair, sourceID string) string { return s.key(pair, "lock:"+sourceID) }

// leaseKeys returns the keys of a lease: a pair lease's key and its holder
// key, or a user lock's key alone.
func (s *redisStore) leaseKeys(l *Lease) []string {
	if l.sourceID != "" {
		return []string{s.lockKey(l.pair, l.sourceID)}
	}
	return []string{s.key(l.pair, "lease"), s.key(l.pair, "holder")}
}

// LeaseHolder reads the pair's lease and holder keys in one script.
func (s *redisStore) LeaseHolder(ctx context.Context, pair string) (string, time.Time, bool, error) {
	if err := checkPair(pair); err != nil {
		return "", time.Time{}, false, err
	}
	res, err := s.runScript(ctx, scriptLeaseHolder, []string{s.key(pair, "lease"), s.key(pair, "holder")}).Slice()
	if err != nil {
		return "", time.Time{}, false, s.wrap(ctx, "read lease holder of "+pair, err)
	}
	if len(res) < 2 {
		return "", time.Time{}, false, nil
	}
	ms, _ := res[0].(int64)
	holder, _ := res[1].(string)
	var until time.Time
	if ms >= 0 {
		until = s.now().Add(time.Duration(ms) * time.Millisecond)
	}
	return holder, until, true, nil
}

func (s *redisStore) extend(ctx context.Context, l *Lease) error {
	n, err := s.runScript(ctx, scriptExtend, s.leaseKeys(l), l.token, l.ttl.Milliseconds(), s.opts.Holder).Int64()
	if err != nil {
		return s.wrap(ctx, "extend", err)
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
}

func (s *redisStore) release(ctx context.Context, l *Lease) error {
	n, err := s.runScript(ctx, scriptRelease, s.leaseKeys(l), l.token).Int64()
	if err != nil {
		return s.wrap(ctx, "release", err)
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
}
