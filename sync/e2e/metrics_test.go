package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// wantFamily is a metric family the daemon must expose: its type and its
// label names, sorted.
type wantFamily struct {
	typ    dto.MetricType
	labels string
}

const (
	counterType   = dto.MetricType_COUNTER
	gaugeType     = dto.MetricType_GAUGE
	histogramType = dto.MetricType_HISTOGRAM
)

// daemonFamilies are the families a daemon that has run one cycle per
// pair exposes, whatever happened in it. ctsync_graph_retries_total and
// ctsync_store_operation_errors_total appear at their first event and
// are checked by cmd/ctsync's unit tests.
var daemonFamilies = map[string]wantFamily{
	"ctsync_cycles_total":                     {counterType, "pair,result"},
	"ctsync_actions_total":                    {counterType, "action,pair"},
	"ctsync_users_not_written_total":          {counterType, "pair,reason"},
	"ctsync_cycle_duration_seconds":           {histogramType, "pair"},
	"ctsync_fast_lane_disable_seconds":        {histogramType, "pair"},
	"ctsync_last_success_timestamp_seconds":   {gaugeType, "pair"},
	"ctsync_cycle_in_progress":                {gaugeType, "pair"},
	"ctsync_cycle_users_read":                 {gaugeType, "pair"},
	"ctsync_cycle_changes_planned":            {gaugeType, "pair"},
	"ctsync_cycle_changes_applied":            {gaugeType, "pair"},
	"ctsync_users_mapped":                     {gaugeType, "pair"},
	"ctsync_users_parked":                     {gaugeType, "pair"},
	"ctsync_actions_staged":                   {gaugeType, "pair"},
	"ctsync_pair_quarantined":                 {gaugeType, "pair"},
	"ctsync_lease_held":                       {gaugeType, "pair"},
	"ctsync_pair_owned":                       {gaugeType, "pair"},
	"ctsync_target_concurrency":               {gaugeType, "tenant"},
	"ctsync_map_recoveries_total":             {counterType, "pair"},
	"ctsync_graph_requests_total":             {counterType, "method,route,status,tenant"},
	"ctsync_graph_request_duration_seconds":   {histogramType, "method,tenant"},
	"ctsync_graph_throttled_total":            {counterType, "tenant"},
	"ctsync_graph_pacer_wait_seconds":         {histogramType, "tenant"},
	"ctsync_store_operation_duration_seconds": {histogramType, "op"},
	"ctsync_sync_interval_seconds":            {gaugeType, ""},
	"ctsync_build_info":                       {gaugeType, "goversion,revision,version"},
	"go_goroutines":                           {gaugeType, ""},
	"go_gc_duration_seconds":                  {dto.MetricType_SUMMARY, ""},
	"go_memstats_heap_alloc_bytes":            {gaugeType, ""},
	"process_cpu_seconds_total":               {counterType, ""},
	"process_resident_memory_bytes":           {gaugeType, ""},
	"process_start_time_seconds":              {gaugeType, ""},
}

// templatedRoute is what a Graph route label may look like: plain Graph
// names and {id}, never an object ID or a UPN.
var templatedRoute = regexp.MustCompile(`^(/([A-Za-z$][A-Za-z.$()]*|\{id\}))+$`)

// httpStatus is a status label of a response.
var httpStatus = regexp.MustCompile(`^[1-5][0-9][0-9]$`)

// TestDaemonMetrics starts `ctsync run` as a real process on a two-tenant
// simulator with the embedded store, waits for each pair's first cycle,
// scrapes /metrics and parses it with Prometheus's text parser (which
// refuses a family split in two, as the hand-written page did): every
// family has its type and labels, the cycle's results are counted, the
// Graph routes are templated, and build info names the Go that built it.
func TestDaemonMetrics(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: 6, Seed: 12, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := app.SimConfig(sim, config.Store{Path: filepath.Join(dir, "state.db")}, "")
	// An hour's interval: after the first cycles nothing runs, so what
	// the scrape shows is the first cycles' outcome.
	cfg = strings.Replace(cfg, "interval = \"1m\"", "interval = \"1h\"\nlisten = \""+addr+"\"", 1)
	cfgPath := filepath.Join(dir, "ctsync.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ctsyncBinary(t), "run", "-c", cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	pairs := []string{"contoso-to-fabrikam", "fabrikam-to-contoso"}
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var contentType string
		fams, contentType, err = scrapeMetrics("http://" + addr + "/metrics")
		if err == nil && !strings.HasPrefix(contentType, "text/plain") {
			t.Fatalf("/metrics answers %q", contentType)
		}
		if err == nil && metricValue(fams, "ctsync_cycles_total", "pair", pairs[0], "result", "ok") == 1 &&
			metricValue(fams, "ctsync_cycles_total", "pair", pairs[1], "result", "ok") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ok cycle of both pairs on /metrics (last error %v); output:\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, want := range daemonFamilies {
		f := fams[name]
		if f == nil {
			t.Errorf("%s: missing", name)
			continue
		}
		if f.GetType() != want.typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), want.typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		for _, s := range f.GetMetric() {
			if got := metricLabelNames(s); got != want.labels {
				t.Errorf("%s: labels %q, want %q", name, got, want.labels)
				break
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "ctsync_") {
			if _, ok := daemonFamilies[name]; !ok {
				t.Errorf("%s is exposed but not checked here", name)
			}
		}
	}

	for _, p := range pairs {
		for _, r := range []string{"ok", "partial", "error", "skipped", "cancelled", "incomplete"} {
			if metricValue(fams, "ctsync_cycles_total", "pair", p, "result", r) < 0 {
				t.Errorf("%s: no ctsync_cycles_total series for result %s", p, r)
			}
		}
		creates := metricValue(fams, "ctsync_actions_total", "pair", p, "action", "create")
		mapped := metricValue(fams, "ctsync_users_mapped", "pair", p)
		if creates <= 0 || mapped != creates {
			t.Errorf("%s: %v guests created, %v users mapped", p, creates, mapped)
		}
		if metricValue(fams, "ctsync_actions_total", "pair", p, "action", "unchanged") >= 0 {
			t.Errorf("%s: unchanged users counted as an action", p)
		}
		if v := metricValue(fams, "ctsync_last_success_timestamp_seconds", "pair", p); v <= 0 {
			t.Errorf("%s: last success %v", p, v)
		}
		// The report comes after the cycle's end: nothing runs, no lease.
		for _, g := range []string{"ctsync_cycle_in_progress", "ctsync_lease_held", "ctsync_pair_quarantined", "ctsync_users_parked"} {
			if v := metricValue(fams, g, "pair", p); v != 0 {
				t.Errorf("%s: %s = %v after the cycle", p, g, v)
			}
		}
		// The only replica runs every pair; a first sync is no recovery.
		if v := metricValue(fams, "ctsync_pair_owned", "pair", p); v != 1 {
			t.Errorf("%s: ctsync_pair_owned = %v for the only replica", p, v)
		}
		if v := metricValue(fams, "ctsync_map_recoveries_total", "pair", p); v != 0 {
			t.Errorf("%s: ctsync_map_recoveries_total = %v after a first sync", p, v)
		}
		if n := metricHistogramCount(fams, "ctsync_cycle_duration_seconds", "pair", p); n != 1 {
			t.Errorf("%s: %d cycle durations observed", p, n)
		}
	}

	invitations := 0.0
	for _, s := range fams["ctsync_graph_requests_total"].GetMetric() {
		route, status := metricLabel(s, "route"), metricLabel(s, "status")
		if !templatedRoute.MatchString(route) {
			t.Errorf("Graph route label %q is not templated", route)
		}
		if status != "none" && !httpStatus.MatchString(status) {
			t.Errorf("Graph status label %q", status)
		}
		if tenant := metricLabel(s, "tenant"); tenant != "contoso" && tenant != "fabrikam" {
			t.Errorf("Graph tenant label %q", tenant)
		}
		if route == "/invitations" && metricLabel(s, "method") == "POST" && strings.HasPrefix(status, "2") {
			invitations += s.GetCounter().GetValue()
		}
	}
	created := metricValue(fams, "ctsync_actions_total", "pair", pairs[0], "action", "create") +
		metricValue(fams, "ctsync_actions_total", "pair", pairs[1], "action", "create")
	if invitations != created {
		t.Errorf("%v successful POST /invitations counted for %v guests created", invitations, created)
	}
	if metricHistogramCount(fams, "ctsync_store_operation_duration_seconds", "op", "apply") == 0 {
		t.Error("no store apply timed")
	}
	if metricHistogramCount(fams, "ctsync_graph_pacer_wait_seconds", "tenant", "fabrikam") == 0 {
		t.Error("no pacer wait observed for fabrikam")
	}
	info := fams["ctsync_build_info"].GetMetric()
	if len(info) != 1 || info[0].GetGauge().GetValue() != 1 || metricLabel(info[0], "goversion") != runtime.Version() ||
		metricLabel(info[0], "version") == "" || metricLabel(info[0], "revision") == "" {
		t.Errorf("build info %v (want goversion %s)", info, runtime.Version())
	}
	if v := metricValue(fams, "ctsync_sync_interval_seconds"); v != 3600 {
		t.Errorf("ctsync_sync_interval_seconds = %v", v)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run did not stop cleanly: %v\n%s", err, out.String())
	}
}

// scrapeMetrics GETs url and parses the Prometheus text format.
func scrapeMetrics(url string) (map[string]*dto.MetricFamily, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	return fams, resp.Header.Get("Content-Type"), err
}

// metricSeries returns the samples of family name whose labels include every
// name, value pair of kv.
func metricSeries(fams map[string]*dto.MetricFamily, name string, kv ...string) []*dto.Metric {
	var out []*dto.Metric
	for _, s := range fams[name].GetMetric() {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && metricLabel(s, kv[i]) == kv[i+1]
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// metricValue is the value of the one counter or gauge sample of name
// with labels kv, or -1 when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, kv ...string) float64 {
	ss := metricSeries(fams, name, kv...)
	if len(ss) != 1 {
		return -1
	}
	if c := ss[0].GetCounter(); c != nil {
		return c.GetValue()
	}
	return ss[0].GetGauge().GetValue()
}

// metricHistogramCount sums the observations of the histograms of name with
// labels kv.
func metricHistogramCount(fams map[string]*dto.MetricFamily, name string, kv ...string) uint64 {
	var n uint64
	for _, s := range metricSeries(fams, name, kv...) {
		n += s.GetHistogram().GetSampleCount()
	}
	return n
}

func metricLabel(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// metricLabelNames is m's label names, sorted and joined by commas.
func metricLabelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}
