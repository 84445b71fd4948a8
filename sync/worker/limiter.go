package worker

import (
	"context"
	"sync"
)

// Limiter bounds the concurrent writes into one target tenant. Graph
// throttles per app per tenant, so every pair writing into a tenant shares
// that tenant's Limiter (see Limiters).
type Limiter struct{ slots chan struct{} }

// NewLimiter allows n concurrent operations.
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = 1
	}
	return &Limiter{slots: make(chan struct{}, n)}
}

// Size returns the number of concurrent operations allowed.
func (l *Limiter) Size() int { return cap(l.slots) }

// Do runs fn in a slot, waiting for one unless ctx ends first. A ctx
// that has ended is never run, even when a slot is free: select picks at
// random among ready cases, and a cancelled cycle (shutdown, a lost lease)
// must not start the rest of its changes only to fail and miscount them.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.slots }()
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}

// Limiters hands out one Limiter per target tenant.
type Limiters struct {
	mu   sync.Mutex
	n    int
	byID map[string]*Limiter
}

// NewLimiters makes limiters of n slots each.
func NewLimiters(n int) *Limiters { return &Limiters{n: n, byID: map[string]*Limiter{}} }

// For returns the limiter of a tenant.
func (ls *Limiters) For(tenantID string) *Limiter {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.byID[tenantID]
	if !ok {
		l = NewLimiter(ls.n)
		ls.byID[tenantID] = l
	}
	return l
}
