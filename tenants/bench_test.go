package tenants

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// BenchmarkWritesOneTenant measures sustained writes into one tenant of the
// realistic simulator (Graph's documented limits, latency, faults) by
// many goroutines sharing the tenant's pacer, as a fraction of Graph's
// write quota (3,000 per 150 s per app per tenant), and the share of
// requests answered 429.
//
// The write window is 150 s; to measure three windows in reasonable time
// the simulator and the client share a clock running CTSYNC_BENCH_SCALE
// (default 15) times faster than the wall clock. Rates are per simulated
// second. Each iteration is one whole measurement: run with -benchtime=1x.
func BenchmarkWritesOneTenant(b *testing.B) {
	scale := 15.0
	if v, err := strconv.ParseFloat(os.Getenv("CTSYNC_BENCH_SCALE"), 64); err == nil && v > 0 {
		scale = v
	}
	const windows, workers = 3, 32
	for b.Loop() {
		clock := newScaledClock(scale)
		rz := graphsim.RealisticRealism()
		s := startSim(b, graphsim.Options{Tenants: []string{"fabrikam"}, Profile: graphsim.ProfileRealistic,
			Realism: &rz, Now: clock.Now, TokenLifetime: 24 * time.Hour})
		ids := seedUsers(b, s.Tenant("fabrikam"), 200)
		c := simClient(b, s, "fabrikam", func(_ *Config, o *Options) { o.Clock = clock })
		// sign in before the clock starts counting
		if _, err := c.Target().Get(context.Background(), ids[0], nil); err != nil {
			b.Fatal(err)
		}
		s.ResetStats()
		start := clock.Now()
		deadline := start.Add(windows * DefaultLimits.WriteWindow)
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; clock.Now().Before(deadline); i++ {
					id := ids[(w*7919+i)%len(ids)]
					err := c.Target().Update(context.Background(), id, map[string]any{"jobTitle": fmt.Sprint("v", i)})
					if err != nil {
						failed.Add(1)
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := clock.Now().Sub(start).Seconds()
		st := s.Stats().Tenant("fabrikam")
		quota := float64(DefaultLimits.Writes) / DefaultLimits.WriteWindow.Seconds()
		rate := float64(ok.Load()) / elapsed
		b.ReportMetric(rate, "writes/s")
		b.ReportMetric(rate/quota, "quota_fraction")
		b.ReportMetric(100*float64(st.Throttled)/float64(max(st.Requests, 1)), "%429")
		b.ReportMetric(float64(failed.Load()), "failed_writes")
		b.ReportMetric(float64(st.Faults), "injected_faults")
	}
}

// BenchmarkWritesSharedApp measures sustained writes of one app
// registration serving four tenants of the realistic simulator, whose
// app-wide write budget (lowered to 3,000 per 5 min, and the same told to
// ctsync) binds before the tenants' own (3,000 per 150 s each): writers in
// all four tenants share one Pacers registry. It reports the app's writes
// as a fraction of the app's budget and the share of requests answered
// 429. The clock runs CTSYNC_BENCH_SCALE (default 40) times faster than
// the wall clock; rates are per simulated second. Run with -benchtime=1x.
func BenchmarkWritesSharedApp(b *testing.B) {
	scale := 40.0
	if v, err := strconv.ParseFloat(os.Getenv("CTSYNC_BENCH_SCALE"), 64); err == nil && v > 0 {
		scale = v
	}
	const windows, workersPerTenant, appWrites = 2, 8, 3000
	names := []string{"contoso", "fabrikam", "northwind", "woodgrove"}
	for b.Loop() {
		clock := newScaledClock(scale)
		rz := graphsim.RealisticRealism()
		rz.Limits.AppWrites = appWrites
		s := startSim(b, graphsim.Options{Tenants: names, Profile: graphsim.ProfileRealistic,
			Realism: &rz, Now: clock.Now, TokenLifetime: 24 * time.Hour, SharedApp: true})
		pacers := &Pacers{}
		var clients []*Client
		var ids [][]string
		for _, name := range names {
			us := seedUsers(b, s.Tenant(name), 50)
			c := simClient(b, s, name, func(c *Config, o *Options) {
				c.Limits.AppWrites, c.Limits.AppWriteWindow = appWrites, 5*time.Minute
				o.Clock, o.Pacers = clock, pacers
			})
			if _, err := c.Target().Get(context.Background(), us[0], nil); err != nil { // sign in
				b.Fatal(err)
			}
			clients, ids = append(clients, c), append(ids, us)
		}
		s.ResetStats()
		start := clock.Now()
		deadline := start.Add(windows * 5 * time.Minute)
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		for w := range workersPerTenant * len(names) {
			c, us := clients[w%len(names)], ids[w%len(names)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; clock.Now().Before(deadline); i++ {
					err := c.Target().Update(context.Background(), us[(w*7919+i)%len(us)], map[string]any{"jobTitle": fmt.Sprint("v", i)})
					if err != nil {
						failed.Add(1)
					} else {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := clock.Now().Sub(start).Seconds()
		var requests, throttled int64
		for _, name := range names {
			st := s.Stats().Tenant(name)
			requests, throttled = requests+st.Requests, throttled+st.Throttled
		}
		quota := float64(appWrites) / (5 * time.Minute).Seconds()
		rate := float64(ok.Load()) / elapsed
		b.ReportMetric(rate, "writes/s")
		b.ReportMetric(rate/quota, "app_quota_fraction")
		b.ReportMetric(100*float64(throttled)/float64(max(requests, 1)), "%429")
		b.ReportMetric(float64(failed.Load()), "failed_writes")
	}
}
