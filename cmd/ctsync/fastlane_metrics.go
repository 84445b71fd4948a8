package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctsync/ctsync/sync/worker"
)

// fastLane registers the fast lane's collector and returns the runner's
// OnFast hook: each guest it disables counts in ctsync_actions_total
// (action "disable", as a cycle's), and its latency from the start of the
// round goes to ctsync_fast_lane_disable_seconds.
func (m *metrics) fastLane() func(worker.FastReport) {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ctsync_fast_lane_disable_seconds",
		Help:    "Time from the start of a fast lane round to a guest disabled (and its sessions revoked) and recorded, by pair.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}}, []string{"pair"})
	m.reg.MustRegister(latency)
	for _, p := range m.pairs {
		latency.WithLabelValues(p) // exists from start-up, like the others
	}
	return func(r worker.FastReport) {
		if len(r.Disabled) == 0 {
			return
		}
		m.actions.WithLabelValues(r.Pair, "disable").Add(float64(len(r.Disabled)))
		for _, d := range r.Disabled {
			latency.WithLabelValues(r.Pair).Observe(d.Latency.Seconds())
		}
	}
}
