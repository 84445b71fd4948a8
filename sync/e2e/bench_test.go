package e2e

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/sync/worker"
	"github.com/ctsync/ctsync/tenants"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// BenchmarkInitialSync measures a first cycle of one pair over 2,000
// source users against the exact simulator with the pacer lifted: ctsync's
// own cost per user (Graph requests, time), without Graph's quota, which
// BenchmarkWritesOneTenant in package tenants covers. Entra documents
// 0.6 to 4.8 s per user for its initial cycle.
func BenchmarkInitialSync(b *testing.B) {
	const users = 2000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: users, Seed: 3, StateDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		a := benchPair(b, sim, b.TempDir(), benchWiring{store: guestmap.Options{NoSync: true}})
		r, elapsed := timedCycle(b, a)
		created := r.Counts["create"]
		st := sim.Stats()
		reqs := st.Tenants["contoso"].Requests + st.Tenants["fabrikam"].Requests
		b.ReportMetric(float64(created)/elapsed.Seconds(), "guests/s")
		b.ReportMetric(float64(reqs)/float64(created), "graph-req/guest")
		b.ReportMetric(elapsed.Seconds()*1000/float64(created), "ms/guest")
		a.Close()
		sim.Close()
	}
}

// timedCycle runs one cycle of a's pair under the benchmark's timer, and
// fails the benchmark on an error or a parked user.
func timedCycle(b *testing.B, a *app.App) (worker.Report, time.Duration) {
	b.Helper()
	b.StartTimer()
	start := time.Now()
	r := a.Runner().Once(context.Background())[0]
	elapsed := time.Since(start)
	b.StopTimer()
	if r.Err != nil || r.Failures > 0 {
		b.Fatalf("cycle: %v, %d failures", r.Err, r.Failures)
	}
	return r, elapsed
}

// benchWiring says how benchPair wires a pair: the store's options, the
// pacer on (Graph's quotas set the pace) or lifted (ctsync's own costs
// show), and a change to the configuration.
type benchWiring struct {
	store  guestmap.Options
	paced  bool
	adjust func(*config.Config)
	// configPath, when set, is the configuration to load (one a
	// simulator process wrote) instead of one for the in-process sim.
	configPath string
	// storeURL, when set, is a Redis store to use instead of the embedded
	// one in dir.
	storeURL string
}

// benchPair wires the first pair of sim (or of w.configPath) with the
// embedded store in dir.
func benchPair(b *testing.B, sim *graphsim.Server, dir string, w benchWiring) *app.App {
	b.Helper()
	path, dbPath := w.configPath, filepath.Join(dir, "s.db")
	if path == "" {
		path = filepath.Join(dir, "ctsync.toml")
		if err := os.WriteFile(path, []byte(app.SimConfig(sim, config.Store{Path: dbPath}, "")), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Store = config.Store{Path: dbPath}
	if w.storeURL != "" {
		cfg.Store = config.Store{URL: w.storeURL}
	}
	if w.adjust != nil {
		w.adjust(cfg)
	}
	store, err := guestmap.Open(context.Background(), cmp.Or(cfg.Store.URL, cfg.Store.Path), w.store)
	if err != nil {
		b.Fatal(err)
	}
	opts := app.Options{OnlyPair: pairName, Log: quietLog(), Store: store}
	if !w.paced {
		opts.AdjustTenant = func(c *tenants.Config) { c.Limits.Unpaced = true }
	}
	a, err := app.Wire(context.Background(), cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	return a
}
