package main

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/sync/worker"
)

// Cycle results: the values of ctsync_cycles_total's result label.
const (
	resultOK        = "ok"        // the cycle did all its work
	resultPartial   = "partial"   // it completed, with users parked for a retry
	resultError     = "error"     // an error stopped it
	resultSkipped   = "skipped"   // it did nothing: another replica holds the lease
	resultCancelled = "cancelled" // the daemon's shutdown stopped it
	// resultIncomplete: it stopped taking new users at its cycle_timeout
	// (a long first sync); what it did is recorded, the next cycle goes on
	// at once. Normal work, not a failure.
	resultIncomplete = "incomplete"
)

var cycleResults = []string{resultOK, resultPartial, resultError, resultSkipped, resultCancelled, resultIncomplete}

// writtenActions are the report's kinds that are changes written to the
// target (ctsync_actions_total); notWritten are the others, outcomes of a
// user that leave the target as it was (ctsync_users_not_written_total).
// A kind in neither list (a future one) counts as written.
var (
	writtenActions = []string{"create", "adopt", "update", "restore", "disable", "soft-delete", "hard-delete", "manager"}
	notWritten     = []string{"unchanged", "skip", "stage", "failed"}
)

// metrics is the daemon's Prometheus registry (its own, not the global
// one, so that nothing a library registers globally leaks into ctsync's
// page) and the collectors the daemon feeds: cycle reports (observe), the
// progress hub (progress), the tenants' Graph clients (the Observer
// methods) and the store (Operation). Every method is safe for concurrent
// use: cycles of different pairs report at the same time.
type metrics struct {
	reg *prometheus.Registry
	// ctx is the daemon's: a cycle that fails once it is done was stopped
	// by the shutdown, not by a fault.
	ctx   context.Context
	store guestmap.Store
	pairs []string // the pairs wired, for share

	cycles, actions, notWritten            *prometheus.CounterVec
	cycleDuration                          *prometheus.HistogramVec
	lastSuccess                            *prometheus.GaugeVec
	inProgress, usersRead, planned, done   *prometheus.GaugeVec
	mapped, parked, staged, quarantined    *prometheus.GaugeVec
	leaseHeld, owned                       *prometheus.GaugeVec
	recoveries                             *prometheus.CounterVec
	graphRequests, graphThrottled, retries *prometheus.CounterVec
	graphDuration, pacerWait               *prometheus.HistogramVec
	storeDuration                          *prometheus.HistogramVec
	storeErrors                            *prometheus.CounterVec
	interval                               prometheus.Gauge
	// http serves reg (built once: it registers its own error counter).
	http http.Handler
}

// newMetrics creates the registry and every collector; ctx is the
// daemon's. Pass m.wire to the app's wiring so the Graph clients and the
// store report here, then m.attach the wired app.
func newMetrics(ctx context.Context) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), ctx: ctx}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(g)
		return g
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(h)
		return h
	}

	m.cycles = counter("ctsync_cycles_total",
		"Cycles ended, by pair and result: ok, partial (users parked for a retry), error, skipped (another replica holds the lease), cancelled (stopped by the daemon's shutdown), incomplete (stopped at cycle_timeout with users pending; the next cycle goes on at once).",
		"pair", "result")
	m.actions = counter("ctsync_actions_total",
		"Changes written to the target tenant, one per user and action, by pair and action (create, adopt, update, restore, disable, soft-delete, hard-delete, manager). Users left as they were are counted by ctsync_users_not_written_total.",
		"pair", "action")
	m.notWritten = counter("ctsync_users_not_written_total",
		"Users a cycle decided about without changing the target, by pair and reason: unchanged (already as desired), skip (policy: duplicate mail, existing guest not adopted, ...), stage (delete or disable awaiting approval), failed (the change failed; the user is parked for a retry).",
		"pair", "reason")
	m.cycleDuration = histogram("ctsync_cycle_duration_seconds",
		"Duration of the cycles that ran (skipped ones are left out), by pair.",
		[]float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}, "pair")
	m.lastSuccess = gauge("ctsync_last_success_timestamp_seconds",
		"Unix time at which the pair's last successful cycle (result ok or partial, or incomplete having applied changes) ended; 0 before the first one. With several replicas take the max by pair.",
		"pair")

	m.inProgress = gauge("ctsync_cycle_in_progress", "1 while a cycle of the pair runs in this process.", "pair")
	m.usersRead = gauge("ctsync_cycle_users_read", "Source users read so far by the pair's running cycle; 0 when none runs.", "pair")
	m.planned = gauge("ctsync_cycle_changes_planned", "Changes planned by the pair's running cycle (known once it has planned); 0 when none runs.", "pair")
	m.done = gauge("ctsync_cycle_changes_applied", "Planned changes of the pair's running cycle applied or parked so far; 0 when none runs.", "pair")

	m.mapped = gauge("ctsync_users_mapped", "Source users in the pair's map (any state: active, disabled, soft-deleted, staged, parked), as the store said after the last cycle.", "pair")
	m.parked = gauge("ctsync_users_parked", "Users of the pair parked for a retry after a failure, as the store said after the last cycle.", "pair")
	m.staged = gauge("ctsync_actions_staged", "Deletes and disables of the pair awaiting `ctsync approve` or `reject`, as the store said after the last cycle.", "pair")
	m.quarantined = gauge("ctsync_pair_quarantined", "1 when the pair is quarantined (until `ctsync reset --quarantine`), as the store said after the last cycle.", "pair")
	m.owned = gauge("ctsync_pair_owned", "1 when the pair is this replica's share (replicas split the pairs by target tenant), 0 when it is another's. Every pair should have exactly one replica at 1.", "pair")
	m.recoveries = counter("ctsync_map_recoveries_total", "Cycles that found the store holding nothing of the pair while the target held guests ctsync had stamped for it: the store's state was lost (FLUSHALL, a Redis restarted empty, a new file), and the map was rebuilt from the stamps. Alert on any increase.", "pair")
	m.leaseHeld = gauge("ctsync_lease_held", "1 while this process holds the pair's lease (during its cycles); with several replicas at most one holds it.", "pair")

	m.graphRequests = counter("ctsync_graph_requests_total",
		"HTTP requests sent to Microsoft Graph, by tenant, method, route (templated: /users/{id}) and status (none: no response).",
		"tenant", "method", "route", "status")
	m.graphDuration = histogram("ctsync_graph_request_duration_seconds",
		"Time from sending a Graph request to its response's headers (pacer wait excluded), by tenant and method.",
		[]float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}, "tenant", "method")
	m.graphThrottled = counter("ctsync_graph_throttled_total", "Graph responses 429 Too Many Requests, by tenant.", "tenant")
	m.retries = counter("ctsync_graph_retries_total", "Graph calls tried again after a failure (429, 5xx, network, replication 404), by tenant and operation.", "tenant", "op")
	m.pacerWait = histogram("ctsync_graph_pacer_wait_seconds",
		"Time each Graph request waited for ctsync's pacer (the tenant's and the app's budgets, Retry-After blocks) before it was sent, by tenant.",
		[]float64{0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300}, "tenant")

	m.storeDuration = histogram("ctsync_store_operation_duration_seconds",
		"Duration of state store operations (Redis or the embedded file), by operation.",
		[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}, "op")
	m.storeErrors = counter("ctsync_store_operation_errors_total",
		"State store operations that failed, by operation (a lease held by another replica and a cancelled call are not failures).",
		"op")

	m.interval = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ctsync_sync_interval_seconds",
		Help: "The configured time between cycles of a pair ([worker] interval), for alerts counted in intervals."})
	m.reg.MustRegister(m.interval)

	version, revision, goVersion := buildInfo()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ctsync_build_info",
		Help:        "Always 1: the running ctsync's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion}})
	info.Set(1)
	m.reg.MustRegister(info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.http = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg, // counts its own scrape errors
		EnableOpenMetrics: true,
	})
	return m
}

// buildInfo returns the module version ("(devel)" for a build from a work
// tree), the VCS revision (with "-dirty" when the tree had changes) and the
// Go version the binary was built with.
func buildInfo() (version, revision, goVersion string) {
	version, revision, goVersion = "unknown", "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "unknown" {
		revision += "-dirty"
	}
	return
}

// wire is an app wiring option: the Graph clients and the store report to
// m.
func (m *metrics) wire(o *app.Options) {
	o.GraphObserver = m
	o.StoreObserver = m
}

// attach gives every enabled pair and every tenant of a its series at zero
// (so that dashboards and alerts see them before the first cycle ends) and
// reads the store's gauges once.
// concurrency exports each target tenant's adaptive limit (one per
// tenant, shared by the pairs writing into it), read at each scrape.
func (m *metrics) concurrency(a *app.App) {
	target := map[string]string{} // pair -> target tenant
	for _, pc := range a.Config.Pairs {
		target[pc.Name] = pc.Target
	}
	seen := map[string]bool{}
	for _, p := range a.Pairs {
		t := target[p.PairName]
		if seen[t] || p.Limiter == nil {
			continue
		}
		seen[t] = true
		lim := p.Limiter
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctsync_target_concurrency",
			Help:        "Users in flight allowed into the target tenant now: ctsync sizes it between 4 and [worker] concurrency_per_target from how long the tenant's pacer holds users back (down) or leaves its write budget unused while users queue (up).",
			ConstLabels: prometheus.Labels{"tenant": t}}, func() float64 { return float64(lim.Size()) }))
	}
}

func (m *metrics) attach(a *app.App) {
	m.store = a.Store
	for _, p := range a.Pairs {
		m.pairs = append(m.pairs, p.PairName)
	}
	m.interval.Set(a.Config.Worker.Interval.Duration.Seconds())
	m.concurrency(a)
	for _, t := range a.Config.Tenants {
		m.graphThrottled.WithLabelValues(t.Name)
		m.pacerWait.WithLabelValues(t.Name)
	}
	for _, p := range a.Pairs {
		name := p.PairName
		for _, r := range cycleResults {
			m.cycles.WithLabelValues(name, r)
		}
		for _, k := range writtenActions {
			m.actions.WithLabelValues(name, k)
		}
		for _, k := range notWritten {
			m.notWritten.WithLabelValues(name, k)
		}
		m.cycleDuration.WithLabelValues(name)
		m.lastSuccess.WithLabelValues(name)
		m.recoveries.WithLabelValues(name)
		for _, g := range []*prometheus.GaugeVec{m.inProgress, m.usersRead, m.planned, m.done, m.mapped, m.parked, m.staged, m.quarantined, m.leaseHeld, m.owned} {
			g.WithLabelValues(name).Set(0)
		}
	}
	// One bound for all pairs: a slow store must not hold start-up back
	// for long (the first cycles read it again anyway).
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	for _, p := range a.Pairs {
		m.refresh(ctx, p.PairName)
	}
}

// handler serves the registry in the Prometheus text format (or
// OpenMetrics, when the scraper asks for it).
func (m *metrics) handler() http.Handler { return m.http }

// serve is handler as a HandlerFunc, for the listener until it mounts
// handler itself.
func (m *metrics) serve(w http.ResponseWriter, r *http.Request) { m.http.ServeHTTP(w, r) }

// resultOf classifies a cycle's report for ctsync_cycles_total. Once the
// daemon's shutdown has begun, an error or parked users are the shutdown's
// doing (a cycle stopped in its managers step parks the rest and still
// commits), so such a cycle is cancelled rather than error or partial.
//
// A cycle that stopped taking new users with no error (Report.Stopped) is
// cancelled when the shutdown stopped it, else incomplete (its
// cycle_timeout): normal work, whose parked users, if any, show in
// ctsync_users_parked.
func (m *metrics) resultOf(r worker.Report) string {
	switch {
	case (r.Err != nil || r.Failures > 0 || r.Stopped != "") && m.ctx.Err() != nil:
		return resultCancelled
	case r.Err != nil:
		return resultError
	case r.Skipped != "":
		return resultSkipped
	case r.Stopped == worker.StopShutdown:
		return resultCancelled
	case r.Stopped != "":
		return resultIncomplete
	case r.Failures > 0:
		return resultPartial
	}
	return resultOK
}

// share takes this replica's share of the pairs (shard.Membership.OnShare).
func (m *metrics) share(pairs []string) {
	mine := map[string]bool{}
	for _, p := range pairs {
		mine[p] = true
	}
	for _, p := range m.pairs {
		m.owned.WithLabelValues(p).Set(boolFloat(mine[p]))
	}
}

// observe takes a cycle's report (worker.Runner.OnReport).
func (m *metrics) observe(r worker.Report) {
	if r.NotMine {
		return // another replica's share: no cycle ran here
	}
	if r.Recovered > 0 {
		m.recoveries.WithLabelValues(r.Pair).Inc()
	}
	result := m.resultOf(r)
	m.cycles.WithLabelValues(r.Pair, result).Inc()
	for k, n := range r.Counts {
		if isNotWritten(k) {
			m.notWritten.WithLabelValues(r.Pair, k).Add(float64(n))
		} else {
			m.actions.WithLabelValues(r.Pair, k).Add(float64(n))
		}
	}
	if result != resultSkipped {
		m.cycleDuration.WithLabelValues(r.Pair).Observe(r.End.Sub(r.Start).Seconds())
	}
	if result == resultOK || result == resultPartial || (result == resultIncomplete && changesWritten(r) > 0) {
		m.lastSuccess.WithLabelValues(r.Pair).Set(float64(r.End.UnixNano()) / 1e9)
	}
	// The cycle released its lease before reporting.
	m.leaseHeld.WithLabelValues(r.Pair).Set(0)
	m.quarantined.WithLabelValues(r.Pair).Set(boolFloat(r.Quarantined))
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	m.refresh(ctx, r.Pair)
}

func isNotWritten(kind string) bool {
	for _, k := range notWritten {
		if k == kind {
			return true
		}
	}
	return false
}

// refresh reads pair's map size, parked users, staged actions and
// quarantine from the store, within ctx (derived from the daemon's, so
// that after shutdown began nothing is read and a store that is down does
// not hold the exit back). A failed read leaves the gauges as they were
// (the store's error is counted by ctsync_store_operation_errors_total).
func (m *metrics) refresh(ctx context.Context, pair string) {
	if m.store == nil || ctx.Err() != nil {
		return
	}
	if st, err := m.store.Status(ctx, pair); err == nil {
		m.parked.WithLabelValues(pair).Set(float64(st.Counts["parked"]))
		m.staged.WithLabelValues(pair).Set(float64(st.StagedCount))
		m.quarantined.WithLabelValues(pair).Set(boolFloat(st.Quarantine.On))
	}
	if n, err := m.store.Count(ctx, pair); err == nil {
		m.mapped.WithLabelValues(pair).Set(float64(n))
	}
}

// progress takes a running cycle's progress (the progress hub).
func (m *metrics) progress(p worker.Progress) {
	if p.Phase == worker.PhaseDone {
		m.inProgress.WithLabelValues(p.Pair).Set(0)
		m.usersRead.WithLabelValues(p.Pair).Set(0)
		m.planned.WithLabelValues(p.Pair).Set(0)
		m.done.WithLabelValues(p.Pair).Set(0)
		m.leaseHeld.WithLabelValues(p.Pair).Set(0)
		return
	}
	m.inProgress.WithLabelValues(p.Pair).Set(1)
	m.usersRead.WithLabelValues(p.Pair).Set(float64(p.Read))
	m.planned.WithLabelValues(p.Pair).Set(float64(p.Planned))
	m.done.WithLabelValues(p.Pair).Set(float64(p.Applied))
}

// Request implements tenants.Observer.
func (m *metrics) Request(tenant, method, route string, status int, d time.Duration) {
	code := "none"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.graphRequests.WithLabelValues(tenant, method, route, code).Inc()
	m.graphDuration.WithLabelValues(tenant, method).Observe(d.Seconds())
}

// Retry implements tenants.Observer.
func (m *metrics) Retry(tenant, op string) { m.retries.WithLabelValues(tenant, op).Inc() }

// Throttled implements tenants.Observer.
func (m *metrics) Throttled(tenant string) { m.graphThrottled.WithLabelValues(tenant).Inc() }

// PacerWait implements tenants.Observer.
func (m *metrics) PacerWait(tenant string, d time.Duration) {
	m.pacerWait.WithLabelValues(tenant).Observe(d.Seconds())
}

// Operation implements storemetrics.Observer. A pair lease taken means
// this process holds it until the cycle's report (or its end of progress)
// says it was released.
func (m *metrics) Operation(op, pair string, d time.Duration, err error) {
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil && !errors.Is(err, guestmap.ErrHeld) && !errors.Is(err, context.Canceled) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
	if op == "acquire" && err == nil && pair != "" {
		m.leaseHeld.WithLabelValues(pair).Set(1)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// changesWritten counts the changes a cycle wrote to the target (users
// left as they were aside).
func changesWritten(r worker.Report) int {
	n := 0
	for k, v := range r.Counts {
		if !isNotWritten(k) {
			n += v
		}
	}
	return n
}
