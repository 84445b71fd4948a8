package e2e

import (
	"sync"
	"testing"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/sync/worker"
)

// TestReplicasSplitPairs runs two replicas' runners over the same full
// mesh and Redis at once: each pair's work is done once, by whichever
// replica holds its lease, and no user gets two guests.
func TestReplicasSplitPairs(t *testing.T) {
	h := newHarness(t, setup{users: 30})
	replica := func() *app.App {
		cfg, err := config.Load(h.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Wire(h.ctx, cfg, app.Options{Log: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return a
	}
	a, b := replica(), replica()
	var ra, rb []worker.Report
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ra = a.Runner().Once(h.ctx) }()
	go func() { defer wg.Done(); rb = b.Runner().Once(h.ctx) }()
	wg.Wait()
	created := map[string]int{}
	for _, r := range append(ra, rb...) {
		if r.Err != nil || r.Failures > 0 {
			t.Fatalf("%s: %v, %d failures", r.Pair, r.Err, r.Failures)
		}
		created[r.Pair] += r.Counts["create"] + r.Counts["adopt"]
	}
	// Let whichever replica skipped a pair catch up, then check the mesh.
	for _, r := range a.Runner().Once(h.ctx) {
		if changes(r) != 0 {
			t.Errorf("%s: work left after the replicas' cycles: %v", r.Pair, r.Counts)
		}
	}
	for _, pair := range []string{"contoso-to-fabrikam", "fabrikam-to-contoso"} {
		n, err := a.Store.Count(h.ctx, pair)
		if err != nil {
			t.Fatal(err)
		}
		if created[pair] != n || n == 0 {
			t.Errorf("%s: %d guests created or adopted by the two replicas, %d mapped", pair, created[pair], n)
		}
	}
	// No source user has two guests in either direction.
	for _, u := range h.src.Users() {
		if u.Attrs["userType"] == "Member" && h.stamped(u.ID) > 1 {
			t.Errorf("source user %s has %d guests", u.ID, h.stamped(u.ID))
		}
	}
}
