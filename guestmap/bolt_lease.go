package guestmap

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's leases live in memory: the file lock already makes
// this process the only user of the file, so they only arbitrate between
// goroutines (pairs run concurrently; ctsync provision beside a cycle).
//
// Fencing without holding a mutex across the commit. A fenced write must
// commit only if its token held the pair's lease when it was checked and
// nobody else could take the lease before the commit. The store used to
// keep s.mu locked from the check through the commit and its fsync, so a
// slow disk made every Extend wait behind the write queue until the lease
// ran out ("validity ended without an extension"). Now s.mu is held only
// for map operations, and a write pins the lease instead:
//
//   - pin checks the token under s.mu and counts one more write in flight
//     on the entry; unpin takes the count back after the commit (or its
//     failure).
//   - take refuses a key whose entry is pinned even when it has expired,
//     so no other token can hold the lease while a write that checked the
//     old one may still commit: the guarantee the mutex gave.
//   - The holder's own token is never refused: extend only moves the
//     expiry and release only ends the validity (the entry stays, with no
//     expiry, until the last pin goes), both at once, whatever is in
//     flight. A holder that released or let its lease expire is fenced
//     from new writes (pin fails); writes it pinned before finish.
//
// A pinned, expired lease thus makes Acquire answer ErrHeld a little
// longer, until the write in flight is on disk; LeaseHolder already reports
// it free. That is the price of the guarantee, and it is what Redis does
// too: a script that checked the token runs to its end before anyone else.

// sweepAt is the lease table size that triggers dropping expired entries
// (user locks that were never released would otherwise pile up).
const sweepAt = 4096

// take sets the lease for key when free, expired and unpinned, or held by
// token; s.mu must be held.
func (s *boltStore) take(key leaseKey, token string, ttl time.Duration) bool {
	now := s.now()
	if len(s.leases) >= sweepAt {
		for k, l := range s.leases {
			if !now.Before(l.expires) && l.pins == 0 {
				delete(s.leases, k)
			}
		}
	}
	cur := s.leases[key]
	if cur != nil && cur.token == token {
		cur.expires, cur.holder = now.Add(ttl), s.opts.Holder
		return true
	}
	if cur != nil && (now.Before(cur.expires) || cur.pins > 0) {
		return false
	}
	s.leases[key] = &memLease{token: token, expires: now.Add(ttl), holder: s.opts.Holder}
	return true
}

// held returns key's entry when token holds it now, else nil; s.mu must
// be held.
func (s *boltStore) held(key leaseKey, token string) *memLease {
	cur := s.leases[key]
	if cur == nil || cur.token != token || !s.now().Before(cur.expires) {
		return nil
	}
	return cur
}

// drop ends cur's validity (a release or an unlock): the entry goes at
// once when no write is pinned on it, else when the last pin goes (see
// unpin); s.mu must be held.
func (s *boltStore) drop(key leaseKey, cur *memLease) {
	if cur.pins > 0 {
		cur.expires = time.Time{}
		return
	}
	delete(s.leases, key)
}

// pin checks that token holds the pair's lease and, if so, pins it for one
// fenced write and returns the entry and the fence number to persist; nil
// means fenced. Every pin must be followed by one unpin.
func (s *boltStore) pin(pair, token string) (*memLease, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.held(leaseKey{pair: pair}, token)
	if cur == nil {
		return nil, 0
	}
	cur.pins++
	return cur, s.fence
}

// unpin ends a fenced write that pinned cur: a committed write also
// releases its batch's user locks (those still held by their tokens), now
// that the entries they guarded are on disk.
func (s *boltStore) unpin(pair string, cur *memLease, committed bool, unlock []*Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur.pins--
	// An entry cannot be replaced or deleted while pinned, so cur is still
	// the map's entry; one released while pinned goes now.
	if key := (leaseKey{pair: pair}); cur.pins == 0 && cur.expires.IsZero() && s.leases[key] == cur {
		delete(s.leases, key)
	}
	if !committed {
		return
	}
	for _, l := range unlock {
		key := leaseKey{l.pair, l.sourceID}
		if u := s.held(key, l.token); u != nil {
			s.drop(key, u)
		}
	}
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
	cur := s.leases[leaseKey{pair: pair}]
	if cur == nil || !s.now().Before(cur.expires) {
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
		err = s.write(func(tx *bolt.Tx) error {
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

// extend moves the expiry of a lease its token still holds. It takes s.mu
// only, never a bolt transaction, so it answers at once however long the
// writes in flight take (pins included: they are the holder's own).
func (s *boltStore) extend(ctx context.Context, l *Lease) error {
	return s.whileHeld(l, func(key leaseKey, cur *memLease) {
		cur.expires, cur.holder = s.now().Add(l.ttl), s.opts.Holder
	})
}

// release ends a lease its token still holds, at once (see drop).
func (s *boltStore) release(ctx context.Context, l *Lease) error {
	return s.whileHeld(l, s.drop)
}

// whileHeld runs f on l's entry under the mutex if l still holds it, and
// reports ErrLeaseLost otherwise: extend and release differ only in f.
func (s *boltStore) whileHeld(l *Lease, f func(key leaseKey, cur *memLease)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := leaseKey{l.pair, l.sourceID}
	cur := s.held(key, l.token)
	if cur == nil {
		return ErrLeaseLost
	}
	f(key, cur)
	return nil
}
