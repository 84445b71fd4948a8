package tenants

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/tenants/graphsim"
	"golang.org/x/sync/errgroup"
)

// seedUsers adds n members without HTTP and returns their IDs.
func seedUsers(tb testing.TB, ten *graphsim.Tenant, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := ten.AddUser(map[string]any{"displayName": fmt.Sprintf("Target User %d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// TestSimRetryAfterOrdering: several goroutines write into one tenant of
// the realistic simulator faster than its (lowered) write quota, with
// ctsync's pacing off so that Graph throttles. Once a 429 arrives, the
// tenant's pacer admits nothing before its Retry-After ends, and no
// request is retried before the Retry-After it got. Time is the scaled
// clock shared by the simulator and the client, so the assertions are
// about order, not wall-clock thresholds.
func TestSimRetryAfterOrdering(t *testing.T) {
	clock := newScaledClock(50) // a 150 s window passes in 3 s
	rz := graphsim.RealisticRealism()
	rz.Limits.WritesPerApp = 40
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}, Profile: graphsim.ProfileRealistic,
		Realism: &rz, Now: clock.Now, TokenLifetime: 24 * time.Hour})
	ids := seedUsers(t, s.Tenant("fabrikam"), 20)
	rec := &recordingTransport{next: s.HTTPClient().Transport, clock: clock}
	c := simClient(t, s, "fabrikam", func(c *Config, o *Options) {
		c.Limits.Unpaced = true
		c.Retry.MaxAttempts = 4
		o.Clock, o.Transport = clock, rec
	})
	var mu sync.Mutex
	var evs []PaceEvent
	c.Pacer().Observe(func(ev PaceEvent) { mu.Lock(); evs = append(evs, ev); mu.Unlock() })

	// With pacing off, goroutines that all retry when a Retry-After ends
	// are throttled again (Graph charges throttled requests too): writes
	// that run out of attempts fail as throttled, which the worker parks.
	var g errgroup.Group
	var n, gaveUp atomic.Int32
	for w := range 8 {
		g.Go(func() error {
			for i := range 8 {
				id := ids[(w*8+i)%len(ids)]
				err := c.Target().Update(context.Background(), id, map[string]any{"jobTitle": fmt.Sprint("t", i)})
				switch {
				case err == nil:
					n.Add(1)
				case IsThrottled(err):
					gaveUp.Add(1)
				default:
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats().Tenant("fabrikam")
	if st.Throttled == 0 {
		t.Fatalf("the simulator never throttled (%d writes): nothing was tested", st.Writes)
	}

	// 1. The pacer: after each block, every admission is at or after the
	// latest block's end.
	var until time.Time
	blocks, admitted := 0, 0
	for _, ev := range evs {
		if ev.Blocked {
			blocks++
			if ev.Until.After(until) {
				until = ev.Until
			}
			continue
		}
		admitted++
		if ev.At.Before(until) {
			t.Fatalf("request admitted at %v, %v before the Retry-After window ended", ev.At, until.Sub(ev.At))
		}
	}
	// 2. The wire: each retry of a throttled request left after its
	// Retry-After.
	log := rec.events()
	last := map[string]wireEvent{}
	retried := 0
	for _, ev := range log {
		if prev, ok := last[ev.reqID]; ok && prev.status == 429 {
			retried++
			if ev.sent.Before(prev.recv.Add(prev.retryAfter)) {
				t.Fatalf("retry of %s sent %v before its Retry-After (%v) ended", ev.reqID,
					prev.recv.Add(prev.retryAfter).Sub(ev.sent), prev.retryAfter)
			}
		}
		last[ev.reqID] = ev
	}
	if retried == 0 || blocks == 0 {
		t.Fatalf("no throttled request was retried (%d blocks)", blocks)
	}
	t.Logf("%d writes done, %d gave up throttled, %d requests, %d answered 429, %d pacer blocks, %d throttled requests retried",
		n.Load(), gaveUp.Load(), len(log), st.Throttled, blocks, retried)
}
