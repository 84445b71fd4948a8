package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// laneRig is a simulated mesh (every tenant into every other) with a
// private Redis, synced once, and `ctsync run` as a real process.
type laneRig struct {
	tb      testing.TB
	ctx     context.Context
	sim     *graphsim.Server
	store   guestmap.Store
	cfgPath string
	names   []string
	out     *lockedBuffer
	cmd     *exec.Cmd
	done    chan struct{}
}

// newLaneRig starts the simulator with tenants names (users each), writes
// the configuration with worker settings (TOML lines for [worker], beside
// interval: e.g. `fast_interval = "1s"`; interval itself replaced when
// given), and converges the first sync in process.
func newLaneRig(tb testing.TB, names []string, users int, interval, worker string) *laneRig {
	tb.Helper()
	sim, err := graphsim.Start(graphsim.Options{Tenants: names, Users: users, Seed: 11, Profile: graphsim.ProfileExact, StateDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Close() })
	redis := testredis.Start(tb, testredis.Options{})
	r := &laneRig{tb: tb, ctx: context.Background(), sim: sim, names: names, cfgPath: filepath.Join(tb.TempDir(), "ctsync.toml")}
	toml := app.SimConfig(sim, config.Store{URL: redis.URL()}, "")
	if interval != "" {
		toml = strings.Replace(toml, `interval = "1m"`, fmt.Sprintf("interval = %q", interval), 1)
	}
	toml = strings.Replace(toml, "[worker]\n", "[worker]\n"+worker+"\n", 1)
	if err := os.WriteFile(r.cfgPath, []byte(toml), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.Wire(r.ctx, cfg, app.Options{Log: quietLog()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	r.store = a.Store
	for i := 0; ; i++ {
		changed := 0
		for _, rep := range a.Runner().Once(r.ctx) {
			if rep.Err != nil {
				tb.Fatalf("first sync: %v", rep.Err)
			}
			for k, n := range rep.Counts {
				if k != "unchanged" {
					changed += n
				}
			}
			changed += rep.Failures
		}
		if changed == 0 {
			break
		}
		if i == 8 {
			tb.Fatal("first sync: no convergence after 8 cycles")
		}
	}
	return r
}

// pairs are the mesh's pair names.
func (r *laneRig) pairs() []string {
	var out []string
	for _, s := range r.names {
		for _, t := range r.names {
			if s != t {
				out = append(out, s+"-to-"+t)
			}
		}
	}
	return out
}

// run starts `ctsync run` and waits until every pair's fast lane has its
// delta link (its first round), so that a change made from now on is the
// fast lane's to see.
func (r *laneRig) run() {
	r.tb.Helper()
	r.out, r.done = &lockedBuffer{}, make(chan struct{})
	r.cmd = exec.Command(ctsyncBinary(r.tb), "run", "-c", r.cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	r.tb.Cleanup(r.stop)
	_, why := pollUntil(60*time.Second, 100*time.Millisecond, func() string {
		for _, p := range r.pairs() {
			if l, err := r.store.FastLink(r.ctx, p); err != nil || l == "" {
				return fmt.Sprintf("pair %s has no fast lane link yet (%v)", p, err)
			}
		}
		return ""
	})
	if why != "" {
		r.tb.Fatalf("%s\n%s", why, r.out.String())
	}
}

// stop ends the daemon with SIGTERM (SIGKILL after 20 s).
func (r *laneRig) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	terminate(r.cmd, r.done)
}

// guests returns, per other tenant, the guest stamped for source user id
// of tenant src.
func (r *laneRig) guests(src, id string) map[string]graphsim.User {
	stamp := directory.Stamp(r.sim.Tenant(src).ID(), id)
	out := map[string]graphsim.User{}
	for _, t := range r.names {
		if t == src {
			continue
		}
		for _, u := range r.sim.Tenant(t).Users() {
			if u.Attrs["extensionAttribute15"] == stamp {
				out[t] = u
			}
		}
	}
	return out
}

// blocked says why the guests of src's user id are not all disabled with
// sessions revoked at or after since ("" when they are).
func (r *laneRig) blocked(src, id string, since time.Time) string {
	gs := r.guests(src, id)
	if len(gs) != len(r.names)-1 {
		return fmt.Sprintf("%d guests of %s", len(gs), id)
	}
	for t, g := range gs {
		if g.Attrs["accountEnabled"] != false {
			return fmt.Sprintf("guest %s in %s still enabled", g.ID, t)
		}
		at, err := time.Parse(time.RFC3339, fmt.Sprint(g.Attrs["signInSessionsValidFromDateTime"]))
		if err != nil || at.Before(since.Truncate(time.Second)) {
			return fmt.Sprintf("guest %s in %s: sessions not revoked (%v)", g.ID, t, g.Attrs["signInSessionsValidFromDateTime"])
		}
	}
	return ""
}

// activeMember picks a source member of src whose guests are all enabled.
func (r *laneRig) activeMember(src string, rnd *rand.Rand) string {
	r.tb.Helper()
	users := r.sim.Tenant(src).Users()
	for range 200 {
		u := users[rnd.IntN(len(users))]
		if u.Attrs["userType"] != "Member" || u.Attrs["accountEnabled"] == false || u.Attrs["creationType"] == "Invitation" {
			continue
		}
		gs := r.guests(src, u.ID)
		if len(gs) != len(r.names)-1 {
			continue
		}
		ok := true
		for _, g := range gs {
			ok = ok && g.Attrs["accountEnabled"] != false
		}
		if ok {
			return u.ID
		}
	}
	r.tb.Fatal("no active member with guests found")
	return ""
}

// TestFastLaneDisablesWithinSeconds: with `ctsync run` (interval 10m,
// fast_interval 1s), a source user disabled after the first sync has its
// guest disabled and sessions revoked by the fast lane, recorded as a
// disable, with no cycle run in between. The bound is generous: the point
// is "long before the next cycle", not a time.
func TestFastLaneDisablesWithinSeconds(t *testing.T) {
	r := newLaneRig(t, []string{"contoso", "fabrikam"}, 30, "10m", `fast_interval = "1s"`)
	const pair = "contoso-to-fabrikam"
	synced, err := r.store.Status(r.ctx, pair)
	if err != nil {
		t.Fatal(err)
	}
	r.run()
	// The daemon's own first cycle (at start) must be over, so that what
	// follows is the fast lane's alone.
	_, why := pollUntil(60*time.Second, 100*time.Millisecond, func() string {
		st, err := r.store.Status(r.ctx, pair)
		if err != nil || st.Running != "" || !st.CycleStart.After(synced.CycleStart) {
			return fmt.Sprintf("the daemon's first cycle has not ended (%v)", err)
		}
		return ""
	})
	if why != "" {
		t.Fatal(why)
	}
	before, _ := r.store.Status(r.ctx, pair)
	id := r.activeMember("contoso", rand.New(rand.NewPCG(1, 2)))
	since := time.Now()
	if err := r.sim.Tenant("contoso").UpdateUser(id, map[string]any{"accountEnabled": false}); err != nil {
		t.Fatal(err)
	}
	took, ok := eventually(t, "guest disabled and sessions revoked", 60*time.Second, 100*time.Millisecond, func() string {
		return r.blocked("contoso", id, since)
	})
	if !ok {
		t.Fatalf("daemon output:\n%s", r.out.String())
	}
	t.Logf("guest disabled and sessions revoked %v after the source user was disabled", took.Round(time.Millisecond))
	after, _ := r.store.Status(r.ctx, pair)
	if after.CycleStart != before.CycleStart {
		t.Errorf("a cycle ran meanwhile (%v, then %v): the fast lane was not what disabled the guest", before.CycleStart, after.CycleStart)
	}
	e, ok, err := r.store.Get(r.ctx, pair, id)
	if err != nil || !ok || e.State != guestmap.StateDisabled {
		t.Errorf("map entry: %+v, %v, %v; want disabled", e, ok, err)
	}
	recs, err := r.store.Logs(r.ctx, guestmap.LogQuery{Pair: pair, SourceID: id})
	if err != nil || len(recs) == 0 {
		t.Fatalf("log: %v, %v", recs, err)
	}
	last := recs[len(recs)-1]
	if last.Action != "disable" || last.Result != "ok" || last.Cycle != "fast-lane" || !strings.Contains(last.Error, "fast lane") {
		t.Errorf("log record: %+v", last)
	}
	if !strings.Contains(r.out.String(), "fast lane: guest disabled") {
		t.Errorf("no INFO line for the disable in the daemon's log:\n%s", r.out.String())
	}
	// Enabled again at the source: the next cycle re-enables the guest (a
	// sync-now request instead of waiting 10 minutes).
	if err := r.sim.Tenant("contoso").UpdateUser(id, map[string]any{"accountEnabled": true}); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "guest enabled again by the cycle", 60*time.Second, 200*time.Millisecond, func() string {
		if g := r.guests("contoso", id)["fabrikam"]; g.Attrs["accountEnabled"] != true {
			return "guest still disabled"
		}
		return ""
	})
}

// BenchmarkFastLaneDisable measures, with `ctsync run` at default settings
// (interval and fast_interval: config.DefaultInterval and
// DefaultFastInterval) on a 3-tenant mesh, the time from a
// source user disabled at a random moment to every one of its guests
// disabled with sessions revoked, over CTSYNC_FASTLANE_TRIALS trials
// (default 5), and prints p50, p95 and max. Run it with -benchtime=1x:
// the trials are the measurement.
//
//	go test ./sync/e2e -run '^$' -bench BenchmarkFastLaneDisable -benchtime=1x
func BenchmarkFastLaneDisable(b *testing.B) {
	trials := 5
	if v := os.Getenv("CTSYNC_FASTLANE_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CTSYNC_FASTLANE_TRIALS=%q: want a positive number", v)
		}
		trials = n
	}
	names := []string{"contoso", "fabrikam", "northwind"}
	r := newLaneRig(b, names, 200, config.DefaultInterval.String(), "")
	r.run()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var took []time.Duration
	b.ResetTimer()
	for i := range trials {
		// A random moment relative to the fast lane's rounds.
		time.Sleep(time.Duration(rnd.Int64N(int64(10 * time.Second))))
		src := names[i%len(names)]
		id := r.activeMember(src, rnd)
		since := time.Now()
		if err := r.sim.Tenant(src).UpdateUser(id, map[string]any{"accountEnabled": false}); err != nil {
			b.Fatal(err)
		}
		d, why := pollUntil(2*time.Minute, 50*time.Millisecond, func() string { return r.blocked(src, id, since) })
		if why != "" {
			b.Fatalf("trial %d: %s\n%s", i, why, r.out.String())
		}
		took = append(took, d)
	}
	b.StopTimer()
	slices.Sort(took)
	// Nearest rank: the smallest value with at least p of the trials at
	// or below it.
	q := func(p float64) time.Duration { return took[max(0, int(math.Ceil(p*float64(len(took))))-1)] }
	b.ReportMetric(q(0.5).Seconds(), "p50-s")
	b.ReportMetric(q(0.95).Seconds(), "p95-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
	fmt.Printf("fast lane, 3-tenant mesh of 200 users, default settings, %d trials: p50 %v, p95 %v, max %v (all: %v)\n",
		trials, q(0.5).Round(10*time.Millisecond), q(0.95).Round(10*time.Millisecond), took[len(took)-1].Round(10*time.Millisecond), took)
}
