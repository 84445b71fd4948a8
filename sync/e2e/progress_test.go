package e2e

import (
	"sync"
	"testing"

	"github.com/ctsync/ctsync/sync/worker"
)

// A cycle reports its progress in order (read, plan, apply, managers,
// done), and the last apply count is the number of changes planned: what
// a terminal line, a metric or the status page shows of a long first sync.
func TestCycleReportsProgress(t *testing.T) {
	h := newHarness(t, setup{users: 40})
	var mu sync.Mutex
	var seen []worker.Progress
	p := h.app.Pair(pairName)
	p.Progress = func(pr worker.Progress) {
		mu.Lock()
		seen = append(seen, pr)
		mu.Unlock()
	}
	rep := h.once()
	if rep.Err != nil || rep.Counts["create"] == 0 {
		t.Fatalf("first cycle: %+v", rep)
	}
	order := map[worker.Phase]int{worker.PhaseRead: 0, worker.PhasePlan: 1, worker.PhaseApply: 2, worker.PhaseManagers: 3, worker.PhaseDone: 4}
	last := -1
	var applied, planned, read int
	for _, pr := range seen {
		if pr.Pair != pairName || pr.Start != rep.Start {
			t.Fatalf("progress of another cycle: %+v", pr)
		}
		if order[pr.Phase] < last {
			t.Fatalf("phase %s after a later one: %+v", pr.Phase, seen)
		}
		last = order[pr.Phase]
		if pr.Applied < applied || pr.Read < read {
			t.Fatalf("counts went back: %+v after applied %d read %d", pr, applied, read)
		}
		applied, planned, read = pr.Applied, pr.Planned, pr.Read
	}
	if last != order[worker.PhaseDone] {
		t.Fatalf("no done phase: %+v", seen)
	}
	if planned == 0 || applied != planned || read < rep.Counts["create"] {
		t.Fatalf("final progress read %d planned %d applied %d; report %v", read, planned, applied, rep.Counts)
	}
}
