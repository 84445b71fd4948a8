package shard

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// TestMembershipsSplitAndTakeOver: three memberships on one store split a
// 3-tenant mesh two pairs each; when one stops, the other two take its
// pairs and every pair still has exactly one runner.
func TestMembershipsSplitAndTakeOver(t *testing.T) {
	st, err := guestmap.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), guestmap.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pairs := mesh(3)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ms := map[string]*Membership{}
	stops := map[string]context.CancelFunc{}
	done := map[string]chan struct{}{}
	for _, id := range []string{"a:1", "b:2", "c:3"} {
		m := &Membership{Store: st, Self: guestmap.Replica{ID: id}, Pairs: pairs, TTL: 300 * time.Millisecond,
			Grace: time.Hour, Settle: 200 * time.Millisecond, Log: quiet}
		ctx, cancel := context.WithCancel(context.Background())
		ms[id], stops[id], done[id] = m, cancel, make(chan struct{})
		go func() { m.Run(ctx); close(done[id]) }()
	}
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	// runners returns, per pair, the memberships whose Turn says run.
	runners := func(ids ...string) map[string][]string {
		out := map[string][]string{}
		for _, p := range pairs {
			for _, id := range ids {
				if run, _ := ms[id].Turn(context.Background(), p.Name); run {
					out[p.Name] = append(out[p.Name], id)
				}
			}
		}
		return out
	}
	balanced := func(ids ...string) (bool, map[string][]string) {
		r := runners(ids...)
		per := map[string]int{}
		for _, p := range pairs {
			if len(r[p.Name]) != 1 {
				return false, r
			}
			per[r[p.Name][0]]++
		}
		// Targets move whole (two pairs each here), so two replicas
		// split three targets 4 and 2: each has work, none has all.
		for _, id := range ids {
			if per[id] == 0 {
				return false, r
			}
		}
		return true, r
	}
	waitBalanced := func(what string, ids ...string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, r := balanced(ids...)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: pairs not split one runner each: %v", what, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitBalanced("three replicas", "a:1", "b:2", "c:3")
	reps, err := st.Replicas(context.Background())
	if err != nil || len(reps) != 3 {
		t.Fatalf("replicas in the store: %v, %v", reps, err)
	}
	for _, r := range reps {
		if len(r.Pairs) != 2 {
			t.Errorf("replica %s announces %v, want two pairs", r.ID, r.Pairs)
		}
	}
	stops["b:2"]()
	<-done["b:2"] // it leaves the store as it stops
	waitBalanced("after b:2 stopped", "a:1", "c:3")
}
