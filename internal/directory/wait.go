package directory

import (
	"context"
	"sync/atomic"
	"time"
)

// PaceMeter adds up the time one unit of work (a user's changes) spent
// held back by the target tenant's pacer: what the worker sizes its
// concurrency on. Work that waits for the pacer has enough concurrency
// already; work that never does, while more is queued, has too little.
type PaceMeter struct{ ns atomic.Int64 }

type paceMeterKey struct{}

// WithPaceMeter returns ctx carrying m: the pacer adds its waits for
// requests made under ctx to m.
func WithPaceMeter(ctx context.Context, m *PaceMeter) context.Context {
	return context.WithValue(ctx, paceMeterKey{}, m)
}

// AddPaceWait records that a request made under ctx waited d for the
// pacer; nothing without a meter.
func AddPaceWait(ctx context.Context, d time.Duration) {
	if m, ok := ctx.Value(paceMeterKey{}).(*PaceMeter); ok && d > 0 {
		m.ns.Add(int64(d))
	}
}

// Total is the time waited so far.
func (m *PaceMeter) Total() time.Duration { return time.Duration(m.ns.Load()) }
