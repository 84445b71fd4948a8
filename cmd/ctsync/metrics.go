package main

import (
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/ctsync/ctsync/sync/worker"
)

// metrics keeps counters from cycle reports and serves them in the
// Prometheus text format. A handful of counters do not justify the
// Prometheus client's dependency tree.
type metrics struct {
	mu       sync.Mutex
	actions  map[[2]string]int // pair, action -> total
	cycles   map[[2]string]int // pair, result -> total
	last     map[string]worker.Report
	quarantn map[string]bool
}

func newMetrics() *metrics {
	return &metrics{actions: map[[2]string]int{}, cycles: map[[2]string]int{}, last: map[string]worker.Report{}, quarantn: map[string]bool{}}
}

func (m *metrics) observe(r worker.Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	result := "ok"
	switch {
	case r.Err != nil:
		result = "error"
	case r.Skipped != "":
		result = "skipped"
	case r.Failures > 0:
		result = "partial"
	}
	m.cycles[[2]string{r.Pair, result}]++
	for k, v := range r.Counts {
		m.actions[[2]string{r.Pair, k}] += v
	}
	m.last[r.Pair] = r
	m.quarantn[r.Pair] = r.Quarantined
}

func (m *metrics) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP ctsync_actions_total Changes applied, by pair and action.")
	fmt.Fprintln(w, "# TYPE ctsync_actions_total counter")
	for _, k := range sortedKeys(m.actions) {
		fmt.Fprintf(w, "ctsync_actions_total{pair=%q,action=%q} %d\n", k[0], k[1], m.actions[k])
	}
	fmt.Fprintln(w, "# HELP ctsync_cycles_total Cycles run, by pair and result.")
	fmt.Fprintln(w, "# TYPE ctsync_cycles_total counter")
	for _, k := range sortedKeys(m.cycles) {
		fmt.Fprintf(w, "ctsync_cycles_total{pair=%q,result=%q} %d\n", k[0], k[1], m.cycles[k])
	}
	fmt.Fprintln(w, "# HELP ctsync_last_cycle_seconds Duration of the last cycle.")
	fmt.Fprintln(w, "# TYPE ctsync_last_cycle_seconds gauge")
	fmt.Fprintln(w, "# HELP ctsync_quarantined Whether the pair is quarantined.")
	fmt.Fprintln(w, "# TYPE ctsync_quarantined gauge")
	pairs := make([]string, 0, len(m.last))
	for p := range m.last {
		pairs = append(pairs, p)
	}
	sort.Strings(pairs)
	for _, p := range pairs {
		r := m.last[p]
		fmt.Fprintf(w, "ctsync_last_cycle_seconds{pair=%q} %g\n", p, r.End.Sub(r.Start).Seconds())
		q := 0
		if m.quarantn[p] {
			q = 1
		}
		fmt.Fprintf(w, "ctsync_quarantined{pair=%q} %d\n", p, q)
	}
}

func sortedKeys(m map[[2]string]int) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}
