package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// A first sync longer than cycle_timeout is normal work: each cycle stops
// taking new users before its deadline, records what it did and ends
// incomplete (no error, nobody failed or parked, the rest pending); the
// next run goes on from there, until every in-scope member has one stamped
// guest and every guest the manager of its source user's manager's guest.
// The simulator's latency makes a cycle too slow to finish; the loop is
// bounded by a count of runs, not by time.
func TestLongFirstSyncResumesAcrossIncompleteCycles(t *testing.T) {
	h := newHarness(t, setup{users: 300})
	rz := h.sim.Realism()
	rz.Latency = graphsim.Latency{Median: 15 * time.Millisecond, P99: 30 * time.Millisecond}
	h.sim.SetRealism(rz)
	toml := app.SimConfig(h.sim, config.Store{URL: h.redis.URL()}, "")
	toml = strings.Replace(toml, "[worker]\n", "[worker]\ncycle_timeout = \"3s\"\n", 1)
	if err := os.WriteFile(h.cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	h.app.Close()
	h.app = h.wire()

	incomplete := 0
	var last worker.Report
	for run := 1; ; run++ {
		if run > 60 {
			t.Fatalf("no complete cycle after 60 runs; last: %+v", last)
		}
		r := h.app.Runner().Once(h.ctx)[0]
		last = r
		if r.Err != nil || r.Failures > 0 || r.Counts["failed"] > 0 {
			var why []string
			_ = h.app.Store.Scan(h.ctx, pairName, func(es []guestmap.Entry) error {
				for _, e := range es {
					if e.State == guestmap.StateParked && len(why) < 5 {
						why = append(why, e.LastError)
					}
				}
				return nil
			})
			recs, _ := h.app.Store.Logs(h.ctx, guestmap.LogQuery{Pair: pairName, Since: r.Start})
			for _, rec := range recs {
				if rec.Result == "parked" && len(why) < 10 {
					why = append(why, rec.Action+": "+rec.Error)
				}
			}
			t.Fatalf("run %d failed: err %v, %d parked, counts %v; parked because: %q", run, r.Err, r.Failures, r.Counts, why)
		}
		if r.Stopped == "" {
			break
		}
		// Pending may be 0: every change done, but the deadline came before
		// the managers step and the record of the cycle's end.
		if r.Stopped != worker.StopTimeout {
			t.Fatalf("run %d: stopped %q with %d pending, want cycle_timeout", run, r.Stopped, r.Pending)
		}
		if changes(r) == 0 {
			t.Fatalf("run %d: incomplete with no change made (%v)", run, r.Counts)
		}
		t.Logf("run %d: %v, %d pending", run, r.Counts, r.Pending)
		incomplete++
		st, err := h.app.Store.Status(h.ctx, pairName)
		if err != nil {
			t.Fatal(err)
		}
		if c := st.History[0]; c.Incomplete != "cycle_timeout" || c.Error != "" || c.Pending != r.Pending || st.LastError != "" || st.Running != "" || st.ConsecutiveFailures != 0 {
			t.Fatalf("run %d: status %+v, newest cycle %+v; want an incomplete cycle with no error", run, st, c)
		}
		if link, _ := h.app.Store.DeltaLink(h.ctx, pairName); link != "" {
			t.Fatalf("run %d: an incomplete cycle committed the delta link", run)
		}
	}
	if incomplete < 2 {
		t.Fatalf("%d incomplete cycles: the latency did not make the first sync outlast cycle_timeout", incomplete)
	}
	t.Logf("first sync of 300 users at cycle_timeout 3s: %d incomplete cycles, then a complete one", incomplete)
	h.converge()

	// Nobody parked or failed in the map, nor in the provisioning log.
	err := h.app.Store.Scan(h.ctx, pairName, func(es []guestmap.Entry) error {
		for _, e := range es {
			if e.State == guestmap.StateParked || e.ManagerPending && e.State == guestmap.StateActive && h.hasGuest(e.ManagerSourceID) {
				t.Errorf("entry %+v: parked, or still waiting for a manager that has a guest", e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := h.app.Store.Logs(h.ctx, guestmap.LogQuery{Pair: pairName, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Result != "ok" && rec.Result != "skipped" {
			t.Errorf("log record %+v: want every result ok or skipped", rec)
		}
	}

	// Every enabled member has exactly one stamped guest; every guest's
	// manager is the guest of its source user's manager, or none when
	// that manager has no guest.
	members, managers := 0, 0
	for _, u := range h.src.Users() {
		if u.Attrs["userType"] != "Member" {
			continue
		}
		n := h.stamped(u.ID)
		if n > 1 {
			t.Errorf("source user %s has %d stamped guests", u.ID, n)
		}
		if on, _ := u.Attrs["accountEnabled"].(bool); !on {
			continue
		}
		members++
		if n != 1 {
			t.Errorf("enabled member %s has %d stamped guests, want 1", u.ID, n)
			continue
		}
		g := h.mustGuest(u.ID)
		want := any(nil)
		if m, _ := u.Attrs["manager"].(string); m != "" {
			if mg, ok := h.guest(m); ok {
				want = mg.ID
			}
		}
		if got := g.Attrs["manager"]; got != want && !(want == nil && got == "") {
			t.Errorf("guest %s of %s has manager %v, want %v", g.ID, u.ID, got, want)
		} else if want != nil {
			managers++
		}
	}
	if members < 250 || managers < 200 {
		t.Fatalf("only %d enabled members and %d managers checked", members, managers)
	}
}

// hasGuest reports whether a source user has a stamped guest.
func (h *harness) hasGuest(sourceID string) bool {
	_, ok := h.guest(sourceID)
	return ok
}
