package worker

import (
	"context"
	"sync"
	"time"
)

// Limiter bounds the users in flight into one target tenant. Graph
// throttles per app per tenant, so every pair writing into a tenant shares
// that tenant's Limiter (see Limiters).
//
// The tenant's pacer, not the limiter, holds the write rate at Graph's
// quota; the limiter only decides how many users' chains of sequential
// round trips run at once to hide their latency. How many that takes
// depends on Graph's latency, its replication delays and each user's
// number of writes, which no admin can know in advance, so an adaptive
// limiter sizes itself (see decideSize) from what the users it ran
// report: the time they spent held back by the pacer, and whether others
// were waiting for a slot meanwhile.
type Limiter struct {
	mu       sync.Mutex
	size     int // slots now
	min, max int
	adaptive bool
	inUse    int
	waiting  int
	// freed is closed (and replaced) whenever a slot frees or the size
	// grows: the waiters try again.
	freed chan struct{}
	win   window
}

// window is what the users finished since the last sizing reported.
type window struct {
	n         int
	busy      time.Duration // sum of the users' durations
	paced     time.Duration // of which held back by the pacer
	contended int           // users that finished while others waited for a slot
}

// NewLimiter allows n concurrent operations, always.
func NewLimiter(n int) *Limiter {
	n = max(n, 1)
	return &Limiter{size: n, min: n, max: n, freed: make(chan struct{})}
}

// NewAdaptiveLimiter starts with start slots and sizes itself between
// lo and hi from what Observe reports.
func NewAdaptiveLimiter(start, lo, hi int) *Limiter {
	lo = max(lo, 1)
	hi = max(hi, lo)
	return &Limiter{size: min(max(start, lo), hi), min: lo, max: hi, adaptive: lo < hi, freed: make(chan struct{})}
}

// Size returns the number of concurrent operations allowed now.
func (l *Limiter) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Max returns the most concurrent operations it will ever allow.
func (l *Limiter) Max() int { return l.max }

// Do runs fn in a slot, waiting for one unless ctx ends first. A ctx
// that has ended is never run, even when a slot is free: a cancelled cycle
// (shutdown, a lost lease) must not start the rest of its changes only to
// fail and miscount them.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}

func (l *Limiter) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	for l.inUse >= l.size {
		ch := l.freed
		l.waiting++
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			l.mu.Lock()
			l.waiting--
			l.mu.Unlock()
			return ctx.Err()
		}
		l.mu.Lock()
		l.waiting--
	}
	l.inUse++
	l.mu.Unlock()
	return nil
}

func (l *Limiter) release() {
	l.mu.Lock()
	l.inUse--
	l.wake()
	l.mu.Unlock()
}

// wake lets the waiters try again; l.mu is held.
func (l *Limiter) wake() {
	close(l.freed)
	l.freed = make(chan struct{})
}

// Observe reports a finished user: how long it took and how much of that
// the pacer held it back. An adaptive limiter resizes itself once it has
// heard from as many users as it has slots (at least 8).
func (l *Limiter) Observe(took, paced time.Duration) {
	if !l.adaptive {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := &l.win
	w.n++
	w.busy += took
	w.paced += min(paced, took)
	if l.waiting > 0 {
		w.contended++
	}
	if w.n < max(l.size, 8) {
		return
	}
	next := decideSize(sizeInput{Size: l.size, Min: l.min, Max: l.max,
		PacedShare: float64(w.paced) / float64(max(w.busy, 1)), ContendedShare: float64(w.contended) / float64(w.n)})
	l.win = window{}
	if next > l.size {
		l.size = next
		l.wake()
	} else {
		l.size = next // the users in flight above it finish; none starts
	}
}

// sizeInput is what a sizing rests on, over the users finished since the
// last one.
type sizeInput struct {
	Size, Min, Max int
	// PacedShare is the share of the users' time spent held back by the
	// pacer (a quota spent, or a 429's Retry-After).
	PacedShare float64
	// ContendedShare is the share of users that finished while other
	// users waited for a slot: demand beyond the slots.
	ContendedShare float64
}

// Sizing thresholds. A pacer that holds users back a quarter of their
// time has all the concurrency it can use: more users would only wait
// longer. One that holds them back under 5 %, while most users had others
// queued behind them, is being left budget: more slots turn into writes.
const (
	pacedEnough  = 0.25
	pacedLittle  = 0.05
	contendedFor = 0.5
)

// decideSize is the new number of slots: down by a fifth when the pacer
// holds the users back, up by a quarter when it leaves budget unused and
// users queue for slots, otherwise the same; within [Min, Max].
//
//	paced share   contended share   slots
//	>= 25 %       any               x 0.8 (at least Min)
//	< 5 %         >= 50 %           x 1.25, +1 at least (at most Max)
//	otherwise                       unchanged
func decideSize(in sizeInput) int {
	n := in.Size
	switch {
	case in.PacedShare >= pacedEnough:
		n = n * 4 / 5
	case in.PacedShare < pacedLittle && in.ContendedShare >= contendedFor:
		n = max(n*5/4, n+1)
	}
	return min(max(n, in.Min), in.Max)
}

// Limiters hands out one Limiter per target tenant.
type Limiters struct {
	start, lo, hi int

	mu   sync.Mutex
	byID map[string]*Limiter
}

// NewAdaptiveLimiters makes adaptive limiters (see NewAdaptiveLimiter).
func NewAdaptiveLimiters(start, lo, hi int) *Limiters {
	return &Limiters{start: start, lo: lo, hi: hi, byID: map[string]*Limiter{}}
}

// For returns the limiter of a tenant.
func (ls *Limiters) For(tenantID string) *Limiter {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.byID[tenantID]
	if !ok {
		l = NewAdaptiveLimiter(ls.start, ls.lo, ls.hi)
		ls.byID[tenantID] = l
	}
	return l
}
