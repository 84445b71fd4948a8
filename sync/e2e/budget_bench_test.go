package e2e

import (
	"fmt"
	"testing"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// BenchmarkWriteBudget measures how much of the target tenant's write
// quota a first cycle of one pair reaches at each concurrency_per_target,
// against the realistic simulator (Graph's latency and throttling) with
// the pacer on, as in production. The pacer holds the rate; concurrency
// only hides the latency of each create's chain of round trips. The
// setting is the bound the adaptive limiter sizes itself under (from 16
// or the bound, never below 4): 4 and 8 are fixed in effect, 64 is the
// default, and the figures show whether the limiter finds the
// concurrency that reaches the pacer's rate on its own (issue 14). Reported per run: target writes/s, their share of the
// documented per-app-per-tenant write quota (3,000 per 150 s, 20/s; the
// pacer aims at 95 % of it), the 429s the simulator answered (and their
// share of all requests) and the wall time of the cycle.
//
//	go test ./sync/e2e -run '^$' -bench WriteBudget -benchtime 1x -timeout 30m
func BenchmarkWriteBudget(b *testing.B) {
	const users = 1000
	lim := tenants.DefaultLimits
	quota := float64(lim.Writes) / lim.WriteWindow.Seconds()
	for _, conc := range []int{4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: users, Seed: 3,
					StateDir: b.TempDir(), Profile: graphsim.ProfileRealistic})
				if err != nil {
					b.Fatal(err)
				}
				a := benchPair(b, sim, b.TempDir(), benchWiring{store: guestmap.Options{NoSync: true}, paced: true,
					adjust: func(c *config.Config) { c.Worker.ConcurrencyPerTarget = conc }})
				before := sim.Stats()
				r, elapsed := timedCycle(b, a)
				after := sim.Stats()
				tgt := after.Tenant("fabrikam")
				tgt0 := before.Tenant("fabrikam")
				writes := tgt.Writes - tgt0.Writes
				var throttled, reqs int64
				for _, name := range []string{"contoso", "fabrikam"} {
					throttled += after.Tenant(name).Throttled - before.Tenant(name).Throttled
					reqs += after.Tenant(name).Requests - before.Tenant(name).Requests
				}
				wps := float64(writes) / elapsed.Seconds()
				b.ReportMetric(wps, "writes/s")
				b.ReportMetric(wps/quota, "quota-frac")
				b.ReportMetric(float64(throttled), "429s")
				b.ReportMetric(100*float64(throttled)/float64(max(reqs, 1)), "429-%")
				b.ReportMetric(elapsed.Seconds(), "wall-s")
				b.ReportMetric(float64(writes), "writes")
				b.ReportMetric(float64(r.Counts["create"]), "creates")
				a.Close()
				sim.Close()
			}
		})
	}
}
