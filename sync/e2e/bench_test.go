package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
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
		a := benchPair(b, sim, b.TempDir(), guestmap.Options{NoSync: true})
		b.StartTimer()
		start := time.Now()
		r := a.Runner().Once(context.Background())[0]
		elapsed := time.Since(start)
		b.StopTimer()
		if r.Err != nil || r.Failures > 0 {
			b.Fatalf("cycle: %v, %d failures", r.Err, r.Failures)
		}
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

// benchPair wires the first pair of sim with the embedded store in dir
// (opened with opts) and the pacer lifted, so ctsync's own costs show
// rather than Graph's quota.
func benchPair(b *testing.B, sim *graphsim.Server, dir string, opts guestmap.Options) *app.App {
	b.Helper()
	path := filepath.Join(dir, "ctsync.toml")
	if err := os.WriteFile(path, []byte(app.SimConfig(sim, config.Store{Path: filepath.Join(dir, "s.db")}, "")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	store, err := guestmap.Open(context.Background(), cfg.Store.Path, opts)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Wire(context.Background(), cfg, app.Options{OnlyPair: pairName, Log: quietLog(), Store: store,
		AdjustTenant: func(c *tenants.Config) { c.Limits.Unpaced = true }})
	if err != nil {
		b.Fatal(err)
	}
	return a
}
