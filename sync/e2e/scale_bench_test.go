package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/directory"
)

// BenchmarkScaleFirstSync is a first sync of one pair of a large tenant
// (CTSYNC_SCALE_USERS, default 10,000; `make bench-scale` runs 100,000)
// across as many cycles as it takes (cycle_timeout CTSYNC_SCALE_CYCLE,
// default 2m), and what it costs in memory. The simulator runs as its own
// process (exact profile), so this process holds ctsync alone: its peak
// RSS (VmHWM), peak anonymous memory (ctsync's own; RSS also counts the
// pages of the embedded store's file that bbolt maps, which the kernel
// can reclaim) and peak Go heap in use are ctsync's; anon-bytes/user is
// the anonymous peak over the memory before the first cycle, per source
// user. CTSYNC_SCALE_REDIS=redis://... uses a Redis store instead of the
// embedded one. The pacer is lifted: Graph's quota would make a
// 100,000-user first sync take hours (BenchmarkWriteBudget measures the
// pace), and memory does not depend on it. It fails on any failed or
// parked user, a cycle error, a duplicate stamp, or a guest left without
// the manager its manager's guest could be.
func BenchmarkScaleFirstSync(b *testing.B) {
	users := scaleEnvInt(b, "CTSYNC_SCALE_USERS", 10000)
	cycle := 2 * time.Minute
	if s := os.Getenv("CTSYNC_SCALE_CYCLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("CTSYNC_SCALE_CYCLE=%q: %v", s, err)
		}
		cycle = d
	}
	for range b.N {
		dir := b.TempDir()
		sim := startSimProcess(b, ctsyncBinary(b), users, "exact")
		a := benchPair(b, nil, dir, benchWiring{store: guestmap.Options{NoSync: true}, configPath: filepath.Join(sim.dir, "ctsync.toml"),
			storeURL: os.Getenv("CTSYNC_SCALE_REDIS"), adjust: func(c *config.Config) { c.Worker.CycleTimeout.Duration = cycle }})
		runtime.GC()
		baseAnon := scaleStatusKB(b, "self", "RssAnon")
		var heapPeak, anonPeak atomic.Uint64
		stopSampling := scaleHeapPeak(&heapPeak, &anonPeak)
		stats0, cpu0 := sim.stats(b), sim.cpu(b)
		start := time.Now()
		cycles, created, managers := 0, 0, 0
		for {
			cycles++
			r := a.Runner().Once(context.Background())[0]
			if r.Err != nil || r.Failures > 0 || r.Counts["failed"] > 0 {
				b.Fatalf("cycle %d: err %v, %d parked, counts %v", cycles, r.Err, r.Failures, r.Counts)
			}
			created += r.Counts["create"] + r.Counts["adopt"]
			managers += r.Counts["manager"]
			b.Logf("cycle %d: %s, counts %v, pending %d, stopped %q", cycles, r.End.Sub(r.Start).Round(time.Second), r.Counts, r.Pending, r.Stopped)
			if !r.Incomplete() {
				break
			}
			if cycles > 500 {
				b.Fatal("no complete cycle after 500")
			}
		}
		wall := time.Since(start)
		stopSampling()
		simCPU, stats := sim.cpu(b)-cpu0, sim.stats(b)
		var requests int64
		for _, name := range []string{"contoso", "fabrikam"} {
			requests += stats.Tenant(name).Requests - stats0.Tenant(name).Requests
		}
		peak := scaleStatusKB(b, "self", "VmHWM")
		stamped, dups := scaleStamps(b, a.Pairs[0].Target)
		// A guest may wait for its manager only while the manager has no
		// guest (a disabled or out-of-scope manager never gets one).
		active := map[string]bool{}
		var pending []string
		parked := 0
		_ = a.Store.Scan(context.Background(), pairName, func(es []guestmap.Entry) error {
			for _, e := range es {
				switch {
				case e.State == guestmap.StateParked:
					parked++
				case e.State == guestmap.StateActive:
					active[e.SourceID] = true
				}
				if e.ManagerPending {
					pending = append(pending, e.ManagerSourceID)
				}
			}
			return nil
		})
		waiting := 0
		for _, m := range pending {
			if active[m] {
				waiting++
			}
		}
		if dups > 0 || parked > 0 || waiting > 0 || stamped < created {
			b.Fatalf("%d duplicate stamps, %d parked, %d guests without the manager their manager's guest could be, %d stamped guests for %d created",
				dups, parked, waiting, stamped, created)
		}
		b.ReportMetric(float64(users), "users")
		b.ReportMetric(float64(cycles), "cycles")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(created), "created")
		b.ReportMetric(float64(managers), "manager-writes")
		// RSS counts the pages of the embedded store's file that bbolt
		// maps and touched (the page cache's, reclaimable; nothing of the
		// kind with Redis): anonymous memory is ctsync's own.
		b.ReportMetric(float64(peak)/1024, "ctsync-peak-rss-MB")
		b.ReportMetric(float64(anonPeak.Load())/1024, "ctsync-peak-anon-MB")
		b.ReportMetric(float64(scaleStatusKB(b, "self", "RssFile"))/1024, "ctsync-store-mapped-MB")
		b.ReportMetric(float64(heapPeak.Load())/(1<<20), "ctsync-peak-heap-MB")
		b.ReportMetric(float64(int(anonPeak.Load())-baseAnon)*1024/float64(users), "anon-bytes/user")
		b.ReportMetric(float64(sim.stop(b))/1024, "sim-peak-rss-MB")
		// The simulator must never be the bottleneck: its CPU per request
		// should not grow with the tenant.
		b.ReportMetric(float64(simCPU.Microseconds())/float64(max(requests, 1)), "sim-cpu-µs/request")
		b.ReportMetric(float64(requests)/float64(max(created, 1)), "graph-req/guest")
		a.Close()
	}
}

// scaleStatusKB reads a "kB" line of /proc/<pid>/status.
func scaleStatusKB(b *testing.B, pid, key string) int {
	b.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skipf("no /proc here: %v", err)
	}
	n := readStatusKB(pid, key)
	if n < 0 {
		b.Fatalf("no %s in /proc/%s/status", key, pid)
	}
	return n
}

// readStatusKB reads a "kB" line of /proc/<pid>/status (-1: none).
func readStatusKB(pid, key string) int {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// scaleHeapPeak records the peaks of the Go heap in use and of the
// process's anonymous memory (KB) until stopped.
func scaleHeapPeak(heap, anon *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > heap.Load() {
				if path := os.Getenv("CTSYNC_SCALE_HEAPPROFILE"); path != "" && ms.HeapInuse > heap.Load()*11/10 {
					// The profile at the peak (roughly): what holds memory.
					if f, err := os.Create(path); err == nil {
						_ = pprof.WriteHeapProfile(f)
						_ = f.Close()
					}
				}
				heap.Store(ms.HeapInuse)
			}
			if kb := uint64(readStatusKB("self", "RssAnon")); kb > anon.Load() {
				anon.Store(kb)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

// scaleStamps streams the target's stamped users: how many, and how many
// stamps appear more than once.
func scaleStamps(b *testing.B, t interface {
	Stamped(context.Context, func([]directory.User) error) error
}) (stamped, dups int) {
	b.Helper()
	seen := map[string]bool{}
	err := t.Stamped(context.Background(), func(page []directory.User) error {
		for _, u := range page {
			for _, v := range u.Attrs {
				s, _ := v.(string)
				if !strings.HasPrefix(s, directory.StampPrefix) {
					continue
				}
				stamped++
				if seen[s] {
					dups++
				}
				seen[s] = true
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return stamped, dups
}

func scaleEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}
