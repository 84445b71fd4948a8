package guestmap

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's leases live in memory: the file lock already makes
// this process the only user of the file, so they only arbitrate between
// goroutines (pairs run concurrently; ctsync provision beside a cycle).

// sweepAt is the lease table size that triggers dropping expired entries
// (user locks that were never released would otherwise pile up).
const sweepAt = 4096

// take sets the lease for key when free, expired or held by token; s.mu
// must be held.
func (s *boltStore) take(key leaseKey, token string, ttl time.Duration) bool {
	now := s.now()
	if len(s.leases) >= sweepAt {
		for k, l := range s.leases {
			if !now.Before(l.expires) {
				delete(s.leases, k)
			}
		}
	}
	if cur, ok := s.leases[key]; ok && cur.token != token && now.Before(cur.expires) {
		return false
	}
	s.leases[key] = memLease{token: token, expires: now.Add(ttl), holder: s.opts.Holder}
	return true
}

// holds reports whether token holds key now; s.mu must be held.
func (s *boltStore) holds(key leaseKey, token string) bool {
	cur, ok := s.leases[key]
	return ok && cur.token == token && s.now().Before(cur.expires)
}

// Acquire takes the pair's lease; the first lease of a pair creates its
// bucket so Pairs lists it.
func (s *boltStore) Acquire(ctx context.Context, pair string, ttl time.Duration) (*Lease, error) {
	if err := checkLeaseArgs(pair, "", ttl); err != nil {
		return nil, err
	}
	if err := s.register(pair); err != nil {
		return nil, err
	}
	token := newToken()
	s.mu.Lock()
	start := s.now()
	if !s.take(leaseKey{pair: pair}, token, ttl) {
		s.mu.Unlock()
		return nil, ErrHeld
	}
	s.fence++
	fence := s.fence
	s.mu.Unlock()
	return newLease(s, pair, "", token, fence, ttl, s.opts.DriftFactor, start), nil
}

// LeaseHolder reads the pair's lease from memory: only this process can
// hold it, as only this process can open the file.
func (s *boltStore) LeaseHolder(ctx context.Context, pair string) (string, time.Time, bool, error) {
	if err := checkPair(pair); err != nil {
		return "", time.Time{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.leases[leaseKey{pair: pair}]
	if !ok || !s.now().Before(cur.expires) {
		return "", time.Time{}, false, nil
	}
	return cur.holder, cur.expires, true, nil
}

// register creates the pair's buckets once.
func (s *boltStore) register(pair string) error {
	var known bool
	err := s.db.View(func(tx *bolt.Tx) error {
		known = pairBucket(tx, pair) != nil
		return nil
	})
	if err == nil && !known {
		err = s.db.Update(func(tx *bolt.Tx) error {
			_, err := pairBucketRW(tx, pair)
			return err
		})
	}
	return s.wrap("register pair "+pair, err)
}

// LockUser takes a per-user lock and reads the user's entry.
func (s *boltStore) LockUser(ctx context.Context, pair, sourceID string, ttl time.Duration) (*Lease, *Entry, error) {
	if err := checkLeaseArgs(pair, sourceID, ttl); err != nil {
		return nil, nil, err
	}
	token := newToken()
	s.mu.Lock()
	start := s.now()
	ok := s.take(leaseKey{pair, sourceID}, token, ttl)
	s.mu.Unlock()
	if !ok {
		return nil, nil, ErrHeld
	}
	l := newLease(s, pair, sourceID, token, 0, ttl, s.opts.DriftFactor, start)
	e, found, err := s.Get(ctx, pair, sourceID)
	if err != nil || !found {
		return l, nil, err
	}
	return l, &e, nil
}

func (s *boltStore) extend(ctx context.Context, l *Lease) error {
	return s.whileHeld(l, func(key leaseKey) {
		s.leases[key] = memLease{token: l.token, expires: s.now().Add(l.ttl), holder: s.opts.Holder}
	})
}

func (s *boltStore) release(ctx context.Context, l *Lease) error {
	return s.whileHeld(l, func(key leaseKey) { delete(s.leases, key) })
}

// whileHeld runs f on l's key under the mutex if l still holds it, and
// reports ErrLeaseLost otherwise: extend and release differ only in f.
func (s *boltStore) whileHeld(l *Lease, f func(key leaseKey)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := leaseKey{l.pair, l.sourceID}
	if !s.holds(key, l.token) {
		return ErrLeaseLost
	}
	f(key)
	return nil
}
