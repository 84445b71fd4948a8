package e2e

import (
	"testing"
	"time"
)

// BenchmarkHostileConverge syncs a three-tenant mesh (60 seeded users
// each, six pairs, an org chart) under graphsim's hostile profile with
// ctsync as real processes, and reports what issue 10 asks `make bench` to
// print: the `ctsync once` runs it takes to converge (every guest there,
// stamped, managers set, nothing parked) and the Graph requests per guest
// it cost. Run it with -benchtime=1x (make bench does); a mesh that has
// not converged after maxRuns reports converged=0 and logs why.
func BenchmarkHostileConverge(b *testing.B) {
	const maxRuns = 6
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := newMesh(b, meshSetup{users: 60})
		guests := m.expectedGuests()
		ctsyncBinary(b) // built before the clock starts
		m.sim.ResetStats()
		b.StartTimer()
		var elapsed time.Duration // the ctsync runs only, not the checks
		runs, converged := 0, false
		var problems []string
		parked := 0
		for runs < maxRuns && !converged {
			if runs > 0 {
				b.StopTimer()
				m.intervalPasses()
				b.StartTimer()
			}
			t0 := time.Now()
			m.once("")
			elapsed += time.Since(t0)
			runs++
			b.StopTimer()
			problems, parked = m.meshProblems(), m.parkedTotal()
			converged = len(problems) == 0 && parked == 0
			b.StartTimer()
		}
		b.StopTimer()
		st := m.sim.Stats().Total()
		conv := 0.0
		if converged {
			conv = 1
		} else {
			b.Logf("not converged after %d runs: %d parked, %d differences, the first: %v", runs, parked, len(problems), problems[:min(5, len(problems))])
		}
		b.ReportMetric(float64(runs), "cycles")
		b.ReportMetric(conv, "converged")
		b.ReportMetric(float64(st.Requests)/float64(guests), "graph-req/guest")
		b.ReportMetric(float64(st.Writes)/float64(guests), "writes/guest")
		b.ReportMetric(float64(st.Throttled)/float64(guests), "429/guest")
		b.ReportMetric(float64(guests), "guests")
		b.ReportMetric(elapsed.Seconds(), "s/converge")
	}
}
