package guestmap

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KeepAlive extends the lease every third of its TTL until ctx ends, and
// returns a context that is cancelled, with context.Cause set to an error
// matching ErrLeaseLost, as soon as the lease is lost or its Until passes
// without a successful extension (the store unreachable for too long). Run
// a pair's cycle under the returned context and call cancel when done;
// cancel does not release the lease.
func (l *Lease) KeepAlive(ctx context.Context) (context.Context, context.CancelFunc) {
	kctx, cancel := context.WithCancelCause(ctx)
	go func() {
		every := max(l.ttl/3, time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			until := l.Until()
			wait := until.Sub(l.owner.now())
			if wait <= 0 {
				cancel(fmt.Errorf("%s: validity ended without an extension: %w", l, ErrLeaseLost))
				return
			}
			select {
			case <-kctx.Done():
				return
			case <-time.After(wait):
				// Loop: Until may have moved on meanwhile.
			case <-t.C:
				err := l.Extend(kctx)
				if errors.Is(err, ErrLeaseLost) {
					cancel(err)
					return
				}
				// Other errors (ErrUnavailable): keep trying until Until.
			}
		}
	}()
	return kctx, func() { cancel(context.Canceled) }
}
