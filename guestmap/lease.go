package guestmap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lease is a pair lease (from Store.Acquire) or a per-user lock (from
// Store.LockUser): one holder at a time, identified by a random 128-bit
// token, valid for a TTL unless extended. Only the holder's token can
// extend or release it. A holder that lost it learns so from Extend
// (ErrLeaseLost) or from its next fenced write (ErrFenced).
type Lease struct {
	owner    leaser
	pair     string
	sourceID string // "" for a pair lease
	token    string
	fence    uint64
	ttl      time.Duration
	margin   time.Duration

	mu    sync.Mutex
	until time.Time
}

// leaser is what a store does for its leases.
type leaser interface {
	extend(ctx context.Context, l *Lease) error  // ErrLeaseLost when not held
	release(ctx context.Context, l *Lease) error // ErrLeaseLost when not held
	now() time.Time
}

// newLease returns a lease whose validity counts from start, the time
// taken before the request that won it was sent.
func newLease(owner leaser, pair, sourceID, token string, fence uint64, ttl time.Duration, driftFactor float64, start time.Time) *Lease {
	l := &Lease{owner: owner, pair: pair, sourceID: sourceID, token: token, fence: fence, ttl: ttl}
	// Clocks drift and the request took time: stop trusting the lease a
	// little before the server lets it go (as redsync does).
	l.margin = time.Duration(float64(ttl)*driftFactor) + 2*time.Millisecond
	l.until = start.Add(ttl - l.margin)
	return l
}

// newToken returns a random 128-bit token in hex.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Pair returns the pair the lease or lock belongs to.
func (l *Lease) Pair() string { return l.pair }

// SourceID returns the locked source user, "" for a pair lease.
func (l *Lease) SourceID() string { return l.sourceID }

// Token returns the random token that fences writes. Do not log it.
func (l *Lease) Token() string { return l.token }

// Fence returns a number that grows with every new lease of the pair (0
// for user locks), for systems that fence by counter rather than token.
func (l *Lease) Fence() uint64 { return l.fence }

// TTL returns the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Until returns the time until which the holder may rely on the lease: the
// start of the last successful acquire or extend, plus the TTL, minus a
// drift margin (1% of the TTL + 2ms by default). Zero after a loss or
// release.
func (l *Lease) Until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// Remaining returns how long the lease is still trusted, by its store's
// clock (Until minus now; negative once past).
func (l *Lease) Remaining() time.Duration { return l.Until().Sub(l.owner.now()) }

// Valid reports whether the lease is still within Until by the store's clock.
func (l *Lease) Valid() bool {
	return l.owner.now().Before(l.Until())
}

// Extend renews the lease for another TTL. It returns ErrLeaseLost when
// the token no longer holds it.
func (l *Lease) Extend(ctx context.Context) error {
	start := l.owner.now()
	if err := l.owner.extend(ctx, l); err != nil {
		if isLost(err) {
			l.setUntil(time.Time{})
		}
		return fmt.Errorf("extend %s: %w", l, err)
	}
	l.setUntil(start.Add(l.ttl - l.margin))
	return nil
}

// Release gives the lease up. It returns ErrLeaseLost (and changes
// nothing) when the token no longer holds it.
func (l *Lease) Release(ctx context.Context) error {
	err := l.owner.release(ctx, l)
	if err == nil || isLost(err) {
		l.setUntil(time.Time{})
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", l, err)
	}
	return nil
}

// String names the lease without its token.
func (l *Lease) String() string {
	if l.sourceID != "" {
		return fmt.Sprintf("lock %s/%s", l.pair, l.sourceID)
	}
	return "lease " + l.pair
}

func (l *Lease) setUntil(t time.Time) {
	l.mu.Lock()
	l.until = t
	l.mu.Unlock()
}

func isLost(err error) bool { return errors.Is(err, ErrLeaseLost) }

// checkLeaseArgs validates the arguments of Acquire (sourceID "") and
// LockUser, which both stores check alike before touching anything.
func checkLeaseArgs(pair, sourceID string, ttl time.Duration) error {
	if err := checkPair(pair); err != nil {
		return err
	}
	kind := "lease"
	if sourceID != "" {
		if err := checkID(sourceID); err != nil {
			return err
		}
		kind = "lock"
	}
	if ttl < time.Millisecond {
		return errorf("%s TTL %v is below 1ms", kind, ttl)
	}
	return nil
}
