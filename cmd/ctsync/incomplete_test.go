package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/sync/worker"
)

// A cycle stopped at its cycle_timeout is normal work: `once` says how
// many users are pending and exits 0; a failure or a held lease keep their
// codes.
func TestOnceIncompleteIsNoFailure(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inc := worker.Report{Pair: "a-to-b", Start: start, End: start.Add(20 * time.Second), Full: true,
		Counts: map[string]int{"create": 1200}, Stopped: worker.StopTimeout, Pending: 800}
	var b strings.Builder
	printReports(&b, []worker.Report{inc})
	if want := "1200 create (full read) in 20s; stopped at cycle_timeout: 800 users pending, resumes next cycle\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("once printed %q, want it to end with %q", b.String(), want)
	}
	for _, c := range []struct {
		reps []worker.Report
		want int
	}{
		{[]worker.Report{inc}, exitOK},
		{[]worker.Report{inc, {Pair: "b-to-a", Skipped: "held"}}, exitHeld},
		{[]worker.Report{inc, {Pair: "b-to-a", Err: errors.New("boom")}}, exitFailures},
		{[]worker.Report{{Pair: "a-to-b", Stopped: worker.StopTimeout, Pending: 3, Failures: 1}}, exitFailures},
	} {
		if got := onceExit(c.reps); got != c.want {
			t.Errorf("onceExit(%+v) = %d, want %d", c.reps, got, c.want)
		}
	}
}

func TestProgressTextRateAndETA(t *testing.T) {
	r := runningJSON{Phase: "apply", Applied: 300, Planned: 1000}
	if got := progressText(r); got != "apply, 300/1000 applied" {
		t.Errorf("no rate yet: %q", got)
	}
	r.RatePerMinute, r.ETASeconds = 150, 280
	if got := progressText(r); got != "apply, 300/1000 applied, 150/min, ETA 4m40s" {
		t.Errorf("with a rate: %q", got)
	}
}
