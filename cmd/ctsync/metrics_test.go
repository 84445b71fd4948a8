package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/storemetrics"
	"github.com/ctsync/ctsync/sync/worker"
)

// testMetrics returns metrics attached to an app of two tenants and one
// pair, without a store (the store's gauges stay at zero).
func testMetrics(t *testing.T, ctx context.Context) *metrics {
	t.Helper()
	m := newMetrics(ctx)
	cfg := &config.Config{Tenants: []config.Tenant{{Name: "contoso"}, {Name: "fabrikam"}}}
	cfg.Worker.Interval.Duration = time.Minute
	m.attach(&app.App{Config: cfg, Pairs: []*worker.Pair{{PairName: "contoso-to-fabrikam"}}})
	return m
}

// families gathers m's registry by name.
func families(t *testing.T, m *metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// TestMetricsExistFromStartUp: before any cycle, every pair has its
// cycle, action and gauge series at zero and every tenant its 429 and
// pacer series, so that rate() and alerts work from the first scrape.
func TestMetricsExistFromStartUp(t *testing.T) {
	m := testMetrics(t, context.Background())
	fams := families(t, m)
	const pair = "contoso-to-fabrikam"
	perPair := map[string]int{ // family -> series of the pair
		"ctsync_cycles_total": len(cycleResults), "ctsync_actions_total": len(writtenActions),
		"ctsync_users_not_written_total": len(notWritten), "ctsync_cycle_duration_seconds": 1,
		"ctsync_last_success_timestamp_seconds": 1, "ctsync_cycle_in_progress": 1, "ctsync_cycle_users_read": 1,
		"ctsync_cycle_changes_planned": 1, "ctsync_cycle_changes_applied": 1, "ctsync_users_mapped": 1,
		"ctsync_users_parked": 1, "ctsync_actions_staged": 1, "ctsync_pair_quarantined": 1, "ctsync_lease_held": 1,
	}
	for name, want := range perPair {
		f := fams[name]
		if f == nil {
			t.Errorf("%s missing before the first cycle", name)
			continue
		}
		n := 0
		for _, s := range f.GetMetric() {
			if label(s, "pair") == pair {
				n++
			}
		}
		if n != want {
			t.Errorf("%s: %d series of %s, want %d", name, n, pair, want)
		}
	}
	for _, name := range []string{"ctsync_graph_throttled_total", "ctsync_graph_pacer_wait_seconds"} {
		if f := fams[name]; f == nil || len(f.GetMetric()) != 2 {
			t.Errorf("%s: want one series per tenant, got %v", name, f)
		}
	}
	if v := testutil.ToFloat64(m.interval); v != 60 {
		t.Errorf("ctsync_sync_interval_seconds = %v", v)
	}
	for _, name := range []string{"ctsync_build_info", "go_goroutines", "go_memstats_heap_alloc_bytes", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestMetricsObserve: a report's counts are split between changes written
// and users left as they were; results are classified (a failure during
// shutdown is cancelled, not error); the last success is set by ok and
// partial cycles only; lease and progress gauges follow the cycle.
func TestMetricsObserve(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	m := testMetrics(t, ctx)
	const pair = "contoso-to-fabrikam"
	start := time.Unix(1_700_000_000, 0)
	cycles := func(result string) float64 { return testutil.ToFloat64(m.cycles.WithLabelValues(pair, result)) }

	m.Operation("acquire", pair, time.Millisecond, nil)
	m.progress(worker.Progress{Pair: pair, Phase: worker.PhaseApply, Read: 40, Planned: 12, Applied: 5})
	for g, want := range map[string]float64{"in_progress": 1, "lease": 1, "read": 40, "planned": 12, "applied": 5} {
		got := map[string]float64{
			"in_progress": testutil.ToFloat64(m.inProgress.WithLabelValues(pair)), "lease": testutil.ToFloat64(m.leaseHeld.WithLabelValues(pair)),
			"read": testutil.ToFloat64(m.usersRead.WithLabelValues(pair)), "planned": testutil.ToFloat64(m.planned.WithLabelValues(pair)),
			"applied": testutil.ToFloat64(m.done.WithLabelValues(pair)),
		}[g]
		if got != want {
			t.Errorf("during the cycle: %s = %v, want %v", g, got, want)
		}
	}
	m.progress(worker.Progress{Pair: pair, Phase: worker.PhaseDone, Read: 40, Planned: 12, Applied: 12})
	m.observe(worker.Report{Pair: pair, Start: start, End: start.Add(3 * time.Second),
		Counts: map[string]int{"create": 10, "update": 1, "unchanged": 28, "skip": 1, "failed": 1}, Failures: 1})
	if v := testutil.ToFloat64(m.inProgress.WithLabelValues(pair)) + testutil.ToFloat64(m.leaseHeld.WithLabelValues(pair)) +
		testutil.ToFloat64(m.usersRead.WithLabelValues(pair)); v != 0 {
		t.Errorf("in-progress or lease gauges not cleared after the cycle")
	}
	if cycles(resultPartial) != 1 || testutil.ToFloat64(m.lastSuccess.WithLabelValues(pair)) != float64(start.Unix()+3) {
		t.Errorf("partial cycle: cycles %v, last success %v", cycles(resultPartial), testutil.ToFloat64(m.lastSuccess.WithLabelValues(pair)))
	}
	if v := testutil.ToFloat64(m.actions.WithLabelValues(pair, "create")); v != 10 {
		t.Errorf("create = %v", v)
	}
	if v := testutil.ToFloat64(m.notWritten.WithLabelValues(pair, "unchanged")); v != 28 {
		t.Errorf("unchanged = %v", v)
	}
	for _, k := range notWritten {
		if testutil.ToFloat64(m.actions.WithLabelValues(pair, k)) != 0 {
			t.Errorf("%s counted as a change written", k)
		}
	}

	m.observe(worker.Report{Pair: pair, Start: start.Add(time.Hour), End: start.Add(time.Hour), Skipped: "another ctsync holds the pair's lease"})
	m.observe(worker.Report{Pair: pair, Start: start.Add(time.Hour), End: start.Add(time.Hour + time.Second), Err: errors.New("pair: read: 401")})
	if cycles(resultSkipped) != 1 || cycles(resultError) != 1 {
		t.Errorf("skipped %v, error %v", cycles(resultSkipped), cycles(resultError))
	}
	if v := testutil.ToFloat64(m.lastSuccess.WithLabelValues(pair)); v != float64(start.Unix()+3) {
		t.Errorf("last success moved to %v by a skipped or failed cycle", v)
	}
	if n := histogramCount(t, m, "ctsync_cycle_duration_seconds"); n != 2 {
		t.Errorf("cycle durations observed %d times, want 2 (the skipped cycle left out)", n)
	}
	// Stopped at its cycle_timeout: incomplete, a success when it wrote
	// something; stopped by a shutdown: cancelled.
	m.observe(worker.Report{Pair: pair, Start: start, End: start.Add(4 * time.Second), Stopped: worker.StopTimeout, Pending: 7, Counts: map[string]int{"create": 2}})
	m.observe(worker.Report{Pair: pair, Start: start, End: start.Add(5 * time.Second), Stopped: worker.StopShutdown, Pending: 5, Counts: map[string]int{"create": 1}})
	if cycles(resultIncomplete) != 1 || cycles(resultCancelled) != 1 || cycles(resultError) != 1 {
		t.Errorf("incomplete %v, cancelled %v, error %v", cycles(resultIncomplete), cycles(resultCancelled), cycles(resultError))
	}
	if v := testutil.ToFloat64(m.lastSuccess.WithLabelValues(pair)); v != float64(start.Unix()+4) {
		t.Errorf("last success %v, want the end of the incomplete cycle that wrote something", v)
	}
	stop()
	m.observe(worker.Report{Pair: pair, Start: start, End: start, Err: fmt.Errorf("cycle interrupted: %w", context.Canceled)})
	m.observe(worker.Report{Pair: pair, Start: start, End: start, Failures: 3, Counts: map[string]int{"failed": 3}})
	if cycles(resultCancelled) != 3 || cycles(resultError) != 1 || cycles(resultPartial) != 1 {
		t.Errorf("cycles stopped by shutdown: cancelled %v, error %v, partial %v", cycles(resultCancelled), cycles(resultError), cycles(resultPartial))
	}
	if v := testutil.ToFloat64(m.lastSuccess.WithLabelValues(pair)); v != float64(start.Unix()+4) {
		t.Errorf("last success moved to %v by a cancelled cycle", v)
	}

	m.Operation("acquire", pair, time.Millisecond, guestmap.ErrHeld)
	m.Operation("apply", pair, time.Millisecond, errors.New("redis: connection refused"))
	if testutil.ToFloat64(m.leaseHeld.WithLabelValues(pair)) != 0 {
		t.Error("a lease held elsewhere shows as held")
	}
	if testutil.ToFloat64(m.storeErrors.WithLabelValues("acquire")) != 0 || testutil.ToFloat64(m.storeErrors.WithLabelValues("apply")) != 1 {
		t.Error("store errors: a held lease counted, or a failed apply not")
	}
	m.Request("fabrikam", "GET", "/users/{id}", 429, time.Millisecond)
	m.Request("fabrikam", "GET", "/users/{id}", 0, time.Millisecond)
	if testutil.ToFloat64(m.graphRequests.WithLabelValues("fabrikam", "GET", "/users/{id}", "429")) != 1 ||
		testutil.ToFloat64(m.graphRequests.WithLabelValues("fabrikam", "GET", "/users/{id}", "none")) != 1 {
		t.Error("Graph requests not counted by status")
	}
}

func histogramCount(t *testing.T, m *metrics, name string) uint64 {
	t.Helper()
	var n uint64
	for _, s := range families(t, m)[name].GetMetric() {
		n += s.GetHistogram().GetSampleCount()
	}
	return n
}

// metricRef finds metric names in the dashboard, the alert rules and the
// docs.
var metricRef = regexp.MustCompile(`\b(?:ctsync|go|process)_[a-z0-9_]*[a-z0-9]\b`)

// TestOperatorKitUsesExposedMetrics: every metric the Grafana dashboard
// and the Prometheus alert rules name is one the registry exposes
// (histograms with their _bucket, _sum and _count), and every ctsync_
// family is in docs/operating.md's metrics table. Retries and store
// errors appear at their first event, so they are made to happen here.
func TestOperatorKitUsesExposedMetrics(t *testing.T) {
	m := testMetrics(t, context.Background())
	m.Retry("fabrikam", "GET /users/{id}")
	m.Operation("apply", "contoso-to-fabrikam", time.Millisecond, errors.New("down"))
	m.Request("fabrikam", "GET", "/users", 200, time.Millisecond)
	exposed := map[string]bool{}
	var ours []string
	for name, f := range families(t, m) {
		exposed[name] = true
		if strings.HasPrefix(name, "ctsync_") {
			ours = append(ours, name)
		}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			exposed[name+"_bucket"], exposed[name+"_sum"], exposed[name+"_count"] = true, true, true
		}
	}
	root := filepath.Join("..", "..")
	for _, file := range []string{"deploy/grafana/ctsync-dashboard.json", "deploy/prometheus/ctsync-alerts.yml"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		refs := metricRef.FindAllString(string(b), -1)
		if len(refs) == 0 {
			t.Errorf("%s names no metric", file)
		}
		for _, r := range refs {
			if !exposed[r] {
				t.Errorf("%s: %s is not a metric ctsync exposes", file, r)
			}
		}
	}
	alerts, _ := os.ReadFile(filepath.Join(root, "deploy/prometheus/ctsync-alerts.yml"))
	for _, want := range []string{"ctsync_pair_quarantined", "ctsync_last_success_timestamp_seconds", "ctsync_users_parked", "ctsync_graph_throttled_total"} {
		if !strings.Contains(string(alerts), want) {
			t.Errorf("no alert rule on %s", want)
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs/operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Metrics\n")
	if !ok {
		t.Fatal(`docs/operating.md has no "## Metrics" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	slices.Sort(ours)
	for _, name := range ours {
		if !strings.Contains(section, "| `"+name+"` |") {
			t.Errorf("%s is not in docs/operating.md's metrics table", name)
		}
	}
}

// TestOperatorKitPromtool checks the alert rules with Prometheus's own
// tool when it is installed (Debian's prometheus package): the rules
// parse, their unit tests (deploy/prometheus/ctsync-alerts.test.yml) pass,
// and every query of the Grafana dashboard parses as PromQL once
// Grafana's variables are replaced.
func TestOperatorKitPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH")
	}
	dir := filepath.Join("..", "..", "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "ctsync-alerts.yml"}, {"test", "rules", "ctsync-alerts.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "ctsync-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	// Each query becomes a recording rule, which promtool parses.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$pair", ".*", "$tenant", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(vars.Replace(tg.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard_query_%d\n        expr: %s\n", n, q)
		}
	}
	if n == 0 {
		t.Fatal("no query in the dashboard")
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries: %v\n%s", err, out)
	}
}

// TestMetricsReadStoreGauges: at start-up the map size, parked users,
// staged actions and quarantine of each pair come from the store, and
// the store's operations are timed by op.
func TestMetricsReadStoreGauges(t *testing.T) {
	ctx := context.Background()
	st, err := guestmap.Open(ctx, filepath.Join(t.TempDir(), "state.db"), guestmap.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const pair = "contoso-to-fabrikam"
	lease, err := st.Acquire(ctx, pair, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Apply(ctx, lease, guestmap.Batch{
		Put: []guestmap.Entry{
			{SourceID: "u1", GuestID: "g1", State: guestmap.StateActive},
			{SourceID: "u2", State: guestmap.StateParked},
			{SourceID: "u3", GuestID: "g3", State: guestmap.StateStaged},
		},
		Stage:      []guestmap.Staged{{SourceID: "u3", GuestID: "g3", Action: "soft-delete"}},
		Status:     &guestmap.Status{Pair: pair, Counts: map[string]int{"parked": 1}},
		Quarantine: &guestmap.Quarantine{On: true, Reason: "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = lease.Release(ctx)

	m := newMetrics(ctx)
	cfg := &config.Config{}
	opts := app.Options{}
	m.wire(&opts)
	m.attach(&app.App{Config: cfg, Store: storemetrics.Wrap(st, opts.StoreObserver), Pairs: []*worker.Pair{{PairName: pair}}})
	for name, want := range map[string]float64{"mapped": 3, "parked": 1, "staged": 1, "quarantined": 1} {
		g := map[string]*prometheus.GaugeVec{"mapped": m.mapped, "parked": m.parked, "staged": m.staged, "quarantined": m.quarantined}[name]
		if v := testutil.ToFloat64(g.WithLabelValues(pair)); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if n := histogramCount(t, m, "ctsync_store_operation_duration_seconds"); n != 2 {
		t.Errorf("%d store operations timed, want 2 (status, count)", n)
	}
}
