package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
)

// BenchmarkIdleMesh measures what a mesh costs Graph when nothing
// changes (`make bench-idle`): the simulator as its own process with 3
// tenants of CTSYNC_IDLE_USERS users (default 10,000), a full mesh (6
// pairs) synced to convergence first in this process with the pacer
// lifted (not measured), then `ctsync run` as a real process, left idle
// for CTSYNC_IDLE_WINDOW (default 3m) once per interval of
// CTSYNC_IDLE_INTERVALS (default "default,10s,15s,1m": "default" leaves
// `interval` out of the configuration, so ctsync's own default applies;
// an explicit interval equal to the default is not run twice). The fast
// lane is never configured: its default (10 s, or the interval when
// shorter) runs every time.
//
// The simulator's counters (GET /_sim/stats) are read at both ends of the
// window, which starts half an interval after every pair's first cycle
// and spans a whole number of intervals (for the default lists), so each
// pair's cycles fall inside it. Printed per interval, per tenant and in
// total: Graph requests per minute, resource units per minute, writes
// (any write fails the benchmark: nothing changed), and the share of the
// tenant's RU budget per app (8,000 RU per 10 s above 500 users). RU are
// not counted by the simulator: they are computed from its per-route
// counts with the cost table of docs/graph-behaviour.md, as an upper
// bound: GET /users and GET /users/delta at 2 RU (as ctsync's own pacer
// charges a delta), every other operation 1, and the $select discount
// (-1) not taken; a $batch envelope costs nothing beyond its items.
//
// Slow (about 20 minutes on 2 cores at 10,000 users, most of it the first
// sync and the windows), so it runs only with CTSYNC_IDLE_MESH=1, which
// `make bench-idle` sets, and never under -short.
func BenchmarkIdleMesh(b *testing.B) {
	if testing.Short() {
		b.Skip("an idle mesh is measured for minutes: not under -short")
	}
	if os.Getenv("CTSYNC_IDLE_MESH") != "1" {
		b.Skip("an idle mesh is measured for many minutes: CTSYNC_IDLE_MESH=1 (make bench-idle)")
	}
	users := scaleEnvInt(b, "CTSYNC_IDLE_USERS", 10000)
	window := idleEnvDuration(b, "CTSYNC_IDLE_WINDOW", 3*time.Minute)
	intervals := idleIntervals(b)
	bin := ctsyncBinary(b)
	for range b.N {
		sim := startSimTenants(b, bin, len(idleTenants), users, "exact")
		cfgPath := filepath.Join(sim.dir, "ctsync.toml")
		start := time.Now()
		idleFirstSync(b, cfgPath)
		b.Logf("first sync of the 6 pairs (pacer lifted): %s", time.Since(start).Round(time.Second))
		budget := idleRUBudget(users)
		var rows []idleRow
		for _, iv := range intervals {
			r := idleMeasure(b, bin, sim, cfgPath, iv, window)
			rows = append(rows, r)
			b.Logf("%s: %.1f Graph requests/min, %.1f RU/min, %d writes, %d cycles, ctsync CPU %.2f s/min", r.label,
				r.total.reqPerMin, r.total.ruPerMin, r.total.writes, r.cycles, r.ctsyncCPU.Seconds()/r.window.Minutes())
		}
		fmt.Print(idleTable(rows, users, budget))
		for _, r := range rows {
			unit := "@" + r.name
			worst := 0.0
			for _, t := range r.tenants {
				worst = max(worst, t.ruPerMin/(float64(budget)*6))
			}
			b.ReportMetric(r.total.reqPerMin, "graph-req/min"+unit)
			b.ReportMetric(r.total.ruPerMin, "RU/min"+unit)
			b.ReportMetric(100*worst, "max-tenant-budget-%"+unit)
			b.ReportMetric(float64(r.total.writes), "writes"+unit)
			b.ReportMetric(r.ctsyncCPU.Seconds()/r.window.Minutes(), "ctsync-cpu-s/min"+unit)
		}
		for _, r := range rows {
			if r.total.writes != 0 || r.total.throttled != 0 {
				b.Errorf("%s: %d writes and %d 429s while nothing changed", r.label, r.total.writes, r.total.throttled)
			}
		}
		sim.stop(b)
	}
}

// idleTenants are the simulator's first three tenants (`ctsync sim
// --tenants 3`).
var idleTenants = []string{"contoso", "fabrikam", "northwind"}

// idleInterval is one setting measured: 0 is "interval left out".
type idleInterval struct {
	d     time.Duration
	name  string // for metric units: "default", "10s"
	label string // for the table: "default (1m)", "10s"
}

// idleIntervals reads CTSYNC_IDLE_INTERVALS.
func idleIntervals(b *testing.B) []idleInterval {
	b.Helper()
	spec := envStr("CTSYNC_IDLE_INTERVALS", "default,10s,15s,1m")
	var out []idleInterval
	hasDefault := slices.Contains(strings.Split(spec, ","), "default")
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "default" {
			out = append(out, idleInterval{name: "default", label: fmt.Sprintf("default (%s)", shortDur(config.DefaultInterval))})
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			b.Fatalf("CTSYNC_IDLE_INTERVALS=%q: %q is neither \"default\" nor a duration", spec, f)
		}
		if hasDefault && d == config.DefaultInterval {
			continue // the default's row measures it
		}
		out = append(out, idleInterval{d: d, name: shortDur(d), label: shortDur(d)})
	}
	return out
}

// shortDur prints 1m rather than 1m0s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func idleEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration", name, s)
	}
	return d
}

// idleRUBudget is Graph's RU budget per app per tenant per 10 s for a
// tenant of n users (docs/graph-behaviour.md).
func idleRUBudget(n int) int {
	switch {
	case n < 50:
		return 3500
	case n <= 500:
		return 5000
	}
	return 8000
}

// idleFirstSync syncs every pair of the configuration at cfgPath to
// convergence (a round of cycles that changes nothing and parks nobody)
// in this process, pacer lifted, with the embedded store it names.
func idleFirstSync(b *testing.B, cfgPath string) {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	if cfg.Store.Path == "" {
		b.Fatalf("%s names no embedded store", cfgPath)
	}
	store, err := guestmap.Open(ctx, cfg.Store.Path, guestmap.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Wire(ctx, cfg, app.Options{Log: quietLog(), Store: store,
		AdjustTenant: func(c *tenants.Config) { c.Limits.Unpaced = true }})
	if err != nil {
		_ = store.Close()
		b.Fatal(err)
	}
	// The daemon opens the same file next: closed on every path.
	defer a.Close()
	for round := 1; ; round++ {
		changed, incomplete := 0, false
		for _, r := range a.Runner().Once(ctx) {
			if r.Err != nil || r.Counts["failed"] > 0 {
				b.Fatalf("first sync, round %d, pair %s: err %v, counts %v", round, r.Pair, r.Err, r.Counts)
			}
			changed += changes(r) + r.Failures
			incomplete = incomplete || r.Incomplete()
		}
		b.Logf("first sync, round %d: %d changes or parked users, incomplete %v", round, changed, incomplete)
		if changed == 0 && !incomplete {
			return
		}
		if round == 30 {
			b.Fatal("first sync: no round without changes after 30")
		}
	}
}

// idleCounts are one tenant's (or the mesh's) figures over a window.
type idleCounts struct {
	requests, deltas, writes, throttled, ru int64
	reqPerMin, ruPerMin                     float64
}

// idleRow is one interval's measurement.
type idleRow struct {
	idleInterval
	window              time.Duration
	tenants             []idleCounts // in idleTenants' order
	total               idleCounts
	cycles              int
	ctsyncCPU, simCPU   time.Duration
	tokens              int64
	routes              map[string]int64
	interval, fastLane  time.Duration
	warnings, errorLogs int
}

// idleMeasure runs `ctsync run` on a copy of the configuration with the
// interval iv, waits for every pair's first cycle and half an interval
// more, and counts Graph's requests over window.
func idleMeasure(b *testing.B, bin string, sim *simProcess, cfgPath string, iv idleInterval, window time.Duration) idleRow {
	b.Helper()
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	const line = "interval = \"1m\"\n"
	if strings.Count(string(raw), line) != 1 {
		b.Fatalf("%s: want one %q line:\n%s", cfgPath, line, raw)
	}
	repl := ""
	if iv.d > 0 {
		repl = fmt.Sprintf("interval = %q\n", iv.d.String())
	}
	path := filepath.Join(filepath.Dir(cfgPath), "idle-"+iv.name+".toml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), line, repl, 1)), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	row := idleRow{idleInterval: iv, window: window, interval: cfg.Worker.Interval.Duration, fastLane: cfg.Worker.FastInterval.Duration}
	if iv.d == 0 && row.interval != config.DefaultInterval {
		b.Fatalf("interval left out, yet %v", row.interval)
	}
	pairs := len(cfg.Pairs)

	out := &lockedBuffer{}
	cmd := exec.Command(bin, "run", "-c", path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		select {
		case <-done:
		default:
			terminate(cmd, done)
		}
	}
	b.Cleanup(stop)
	cyclesDone := func() int { return strings.Count(out.String(), `msg="cycle done"`) }
	_, why := pollUntil(5*time.Minute, 200*time.Millisecond, func() string {
		select {
		case <-done:
			return "ctsync run exited"
		default:
		}
		if n := cyclesDone(); n < pairs {
			return fmt.Sprintf("%d of %d pairs ended their first cycle", n, pairs)
		}
		return ""
	})
	if why != "" {
		b.Fatalf("%s: %s\n%s", iv.label, why, out.String())
	}
	// Half an interval from the first cycles, so a window of whole
	// intervals holds each pair's cycles well inside its ends.
	time.Sleep(row.interval / 2)

	before, simCPU0, cpu0, cycles0, logLen := sim.stats(b), sim.cpu(b), pidCPU(b, cmd.Process.Pid), cyclesDone(), len(out.String())
	start := time.Now()
	time.Sleep(window)
	after, simCPU1, cpu1, cycles1 := sim.stats(b), sim.cpu(b), pidCPU(b, cmd.Process.Pid), cyclesDone()
	row.window = time.Since(start)
	stop()
	during := out.String()[logLen:]
	row.warnings = strings.Count(during, "level=WARN")
	row.errorLogs = strings.Count(during, "level=ERROR")
	if row.warnings+row.errorLogs > 0 {
		b.Logf("%s: the daemon logged %d warnings and %d errors in the window:\n%s", iv.label, row.warnings, row.errorLogs, during)
	}
	row.cycles, row.ctsyncCPU, row.simCPU = cycles1-cycles0, cpu1-cpu0, simCPU1-simCPU0
	row.routes = map[string]int64{}
	mins := row.window.Minutes()
	for _, name := range idleTenants {
		a, p := after.Tenant(name), before.Tenant(name)
		c := idleCounts{requests: a.Requests - p.Requests, writes: a.Writes - p.Writes, throttled: a.Throttled - p.Throttled,
			deltas: a.Routes["GET /users/delta"] - p.Routes["GET /users/delta"]}
		row.tokens += a.Tokens - p.Tokens
		for route, n := range a.Routes {
			d := n - p.Routes[route]
			if d == 0 {
				continue
			}
			row.routes[route] += d
			c.ru += idleRouteRU(route) * d
		}
		c.reqPerMin, c.ruPerMin = float64(c.requests)/mins, float64(c.ru)/mins
		row.tenants = append(row.tenants, c)
		row.total.requests += c.requests
		row.total.deltas += c.deltas
		row.total.writes += c.writes
		row.total.throttled += c.throttled
		row.total.ru += c.ru
	}
	row.total.reqPerMin, row.total.ruPerMin = float64(row.total.requests)/mins, float64(row.total.ru)/mins
	b.Logf("%s (interval %v, fast lane %v): routes %v, %d token requests, %d cycles, sim CPU %v, ctsync CPU %v over %v",
		iv.label, row.interval, row.fastLane, row.routes, row.tokens, row.cycles, row.simCPU, row.ctsyncCPU, row.window.Round(time.Second))
	return row
}

// idleRouteRU is a route's cost as docs/graph-behaviour.md gives it, as an
// upper bound (the $select discount not taken): a list or a delta of
// users 2 RU, any other operation 1; a $batch envelope nothing (its items
// are counted as requests of their own).
func idleRouteRU(route string) int64 {
	switch route {
	case "POST /$batch":
		return 0
	case "GET /users", "GET /users/delta":
		return 2
	}
	return 1
}

// idleTable prints the rows as markdown: per interval, each tenant and the
// mesh.
func idleTable(rows []idleRow, users, budget int) string {
	var s strings.Builder
	perMin := float64(budget) * 6
	fmt.Fprintf(&s, "\n## idle mesh: 3 tenants of %d users, 6 pairs, `ctsync run`, nothing changing\n\n", users)
	fmt.Fprintf(&s, "RU budget per app per tenant: %d per 10 s = %.0f per minute; RU are an upper bound from the per-route counts "+
		"(GET /users and /users/delta 2, other operations 1, no $select discount)\n\n", budget, perMin)
	s.WriteString("| interval | fast lane | tenant | Graph requests/min | of them delta | RU/min | of the tenant's RU budget | writes | cycles in window | ctsync CPU |\n")
	s.WriteString("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		mins := r.window.Minutes()
		head := r.label + " | " + shortDur(r.fastLane)
		for i, t := range r.tenants {
			fmt.Fprintf(&s, "| %s | %s | %.1f | %.1f | %.1f | %.3f %% | %d | | |\n", head, idleTenants[i], t.reqPerMin,
				float64(t.deltas)/mins, t.ruPerMin, 100*t.ruPerMin/perMin, t.writes)
		}
		fmt.Fprintf(&s, "| %s | **mesh** | **%.1f** | %.1f | **%.1f** | %.3f %% of 3 budgets | %d | %d in %s | %.2f s/min |\n", head,
			r.total.reqPerMin, float64(r.total.deltas)/mins, r.total.ruPerMin, 100*r.total.ruPerMin/(3*perMin), r.total.writes,
			r.cycles, r.window.Round(time.Second), r.ctsyncCPU.Seconds()/mins)
	}
	return s.String()
}
