package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// BenchmarkEmbeddedStoreUnderDiskLoad runs the initial sync of a 2,000-user
// pair with the embedded store, fsync on, the default lease TTL (30s) and
// the default apply concurrency, against the exact simulator with the
// pacer lifted (so the store, not Graph's quota, sets the pace), while
// other processes write heavily to the same disk: dd loops in the store's
// directory, one with O_DIRECT and one buffered with a final fsync (which
// makes every fsync on the file system wait behind its writeback). The
// "idle" case is the same sync without the load. It reports:
//
//	s/sync         the cycle's wall time
//	lease-lost     1 when the cycle ended on a lost lease (the failure of issue
//	               "validity ended without an extension"), else 0
//	created        guests created
//	commits/user   store commits per created guest
//	fsyncs/user    store fsyncs per created guest
//	writes/commit  store writes (Apply, ...) per commit: the group commit
//	load-MB/s      what the load wrote meanwhile
//
// Run it with -benchtime 1x; it is skipped in short mode and needs dd.
func BenchmarkEmbeddedStoreUnderDiskLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("a 2,000-user sync under a disk load takes minutes")
	}
	if _, err := exec.LookPath("dd"); err != nil {
		b.Skip("no dd for the disk load")
	}
	for _, load := range []bool{false, true} {
		name := "idle"
		if load {
			name = "dd"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				syncUnderLoad(b, 2000, load)
			}
		})
	}
}

func syncUnderLoad(b *testing.B, users int, load bool) {
	b.StopTimer()
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: users, Seed: 3,
		Profile: graphsim.ProfileExact, StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	dir := b.TempDir() // the store and the load share it, and so the disk
	a := benchPair(b, sim, dir, benchWiring{})
	if lt := a.Config.Worker.LeaseTTL.Duration; lt != 30*time.Second {
		b.Fatalf("lease TTL %v, want the default 30s", lt)
	}
	defer a.Close()

	var written atomic.Int64
	stopLoad := func() {}
	if load {
		stopLoad = diskLoad(b, dir, &written)
		time.Sleep(2 * time.Second) // let the load build up its writeback
	}
	w0, c0, f0, _ := guestmap.CommitStats(a.Store)
	b.StartTimer()
	start := time.Now()
	r := a.Runner().Once(context.Background())[0]
	elapsed := time.Since(start)
	b.StopTimer()
	stopLoad()
	w1, c1, f1, _ := guestmap.CommitStats(a.Store)

	created := r.Counts["create"]
	lost := 0.0
	if errors.Is(r.Err, guestmap.ErrLeaseLost) {
		lost = 1
	}
	b.ReportMetric(elapsed.Seconds(), "s/sync")
	b.ReportMetric(lost, "lease-lost")
	b.ReportMetric(float64(created), "created")
	if created > 0 {
		b.ReportMetric(float64(c1-c0)/float64(created), "commits/user")
		b.ReportMetric(float64(f1-f0)/float64(created), "fsyncs/user")
	}
	b.ReportMetric(float64(w1-w0)/max(float64(c1-c0), 1), "writes/commit")
	if load {
		b.ReportMetric(float64(written.Load())/1e6/elapsed.Seconds(), "load-MB/s")
	}
	b.Logf("%d users, load %v: %v, %d created, %d parked, %d store writes in %d commits, %d fsyncs, cycle error: %v",
		users, load, elapsed.Round(time.Millisecond), created, r.Failures, w1-w0, c1-c0, f1-f0, r.Err)
	if r.Err != nil {
		b.Errorf("cycle: %v", r.Err)
	}
}

// diskLoad starts dd loops writing to dir until the returned stop is
// called, which kills them and waits; written counts the bytes of the runs
// that finished.
func diskLoad(b *testing.B, dir string, written *atomic.Int64) (stop func()) {
	const mb = 256
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, flag := range []string{"oflag=direct", "conv=fsync"} {
		out := filepath.Join(dir, fmt.Sprintf("load%d", i))
		wg.Go(func() {
			defer os.Remove(out)
			for ctx.Err() == nil {
				dd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+out, "bs=1M", fmt.Sprint("count=", mb), flag)
				if err := dd.Run(); err != nil {
					if ctx.Err() == nil {
						b.Errorf("dd %s: %v", flag, err)
					}
					return
				}
				written.Add(mb << 20)
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}
