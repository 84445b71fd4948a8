package guestmap

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/testredis"
	"github.com/redis/go-redis/v9"
)

const benchUsers = 100_000

// roundTrips counts Redis round trips: one per command sent alone, one per
// pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchEntry is a realistic entry: GUIDs, standard stamp, a guest UPN of
// the usual #EXT# form.
func benchEntry(i int) Entry {
	e := sampleEntry(i)
	e.GuestUPN = fmt.Sprintf("firstname.lastname%d_contoso.com#EXT#@fabrikam.onmicrosoft.com", i)
	return e
}

func usedMemory(b *testing.B, c redis.UniversalClient) int64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkRedis100kUsers maps 100,000 users of one pair in a private
// redis-server and reports:
//
//	map-B/user       MEMORY USAGE of the pair's map hash / users
//	used-B/user      growth of INFO used_memory / users (map only)
//	log-B/record     growth of used_memory per provisioning record
//	fullsync-RT/user round trips per user writing all 100,000 (batches of 1,000 + log)
//	invite-RT/user   round trips per created user on the invite path
//	                 (LockUser with re-read, then Apply{Put, Log, Unlock})
//	cycle-RT/changed round trips per changed user in a 1% delta cycle
//	                 (GetMany, Apply{Put, Log, DeltaLink})
//
// The timed loop is the 1% delta cycle.
func BenchmarkRedis100kUsers(b *testing.B) {
	srv := testredis.Start(b, testredis.Options{})
	st, err := Open(ctx, srv.URL(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rs := st.(*redisStore)
	rt := &roundTrips{}
	rs.c.AddHook(rt)
	l, err := st.Acquire(ctx, pairAB, time.Hour)
	if err != nil {
		b.Fatal(err)
	}

	// Full sync: entries only, to measure the map's memory alone.
	mem0 := usedMemory(b, rs.c)
	rt0 := rt.n.Load()
	benchFill(b, st, l, 1000)
	fullRT := float64(rt.n.Load()-rt0) / benchUsers
	mem1 := usedMemory(b, rs.c)
	usage, err := rs.c.MemoryUsage(ctx, rs.key(pairAB, "map"), 0).Result()
	if err != nil {
		b.Fatal(err)
	}
	if n, _ := st.Count(ctx, pairAB); n != benchUsers {
		b.Fatalf("count %d", n)
	}

	// Log records: one per user, as the full sync would write them.
	recs := make([]Record, 0, 1000)
	for i := range 1000 {
		recs = append(recs, Record{Cycle: "c1", SourceID: guid(1, i), GuestID: guid(2, i), Action: "create",
			Changes: []Change{{Prop: "displayName", New: "First Last"}, {Prop: "mail", New: "first.last@contoso.com"}},
			Result:  "ok", Duration: 120 * time.Millisecond})
	}
	if err := st.Apply(ctx, l, Batch{Log: recs}); err != nil {
		b.Fatal(err)
	}
	mem2 := usedMemory(b, rs.c)

	// Invite path: lock with re-read, then write, log and unlock at once.
	const invites = 1000
	rt0 = rt.n.Load()
	for i := benchUsers; i < benchUsers+invites; i++ {
		e := benchEntry(i)
		lk, got, err := st.LockUser(ctx, pairAB, e.SourceID, time.Minute)
		if err != nil || got != nil {
			b.Fatal(err, got)
		}
		err = st.Apply(ctx, l, Batch{Put: []Entry{e}, Unlock: []*Lease{lk},
			Log: []Record{{SourceID: e.SourceID, GuestID: e.GuestID, Action: "create", Result: "ok"}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	inviteRT := float64(rt.n.Load()-rt0) / invites

	// Delta cycles with 1% of the users changed.
	rng := rand.New(rand.NewPCG(1, 2))
	const changed = benchUsers / 100
	rt0 = rt.n.Load()
	cycles := 0
	for b.Loop() {
		cycles++
		puts := benchChanges(b, st, rng, changed)
		logs := make([]Record, 0, len(puts))
		for _, e := range puts {
			logs = append(logs, Record{SourceID: e.SourceID, Action: "update", Result: "ok"})
		}
		link := fmt.Sprintf("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=%d", cycles)
		if err := st.Apply(ctx, l, Batch{Put: puts, Log: logs, DeltaLink: &link}); err != nil {
			b.Fatal(err)
		}
	}
	cycleRT := float64(rt.n.Load()-rt0) / float64(cycles*changed)

	b.ReportMetric(float64(usage)/benchUsers, "map-B/user")
	b.ReportMetric(float64(mem1-mem0)/benchUsers, "used-B/user")
	b.ReportMetric(float64(mem2-mem1)/1000, "log-B/record")
	b.ReportMetric(fullRT, "fullsync-RT/user")
	b.ReportMetric(inviteRT, "invite-RT/user")
	b.ReportMetric(cycleRT, "cycle-RT/changed")
}

// BenchmarkBolt100kUsers maps 100,000 users in the embedded store and
// reports the file size per user and the time of a 1% delta cycle.
func BenchmarkBolt100kUsers(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	l, err := st.Acquire(ctx, pairAB, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	benchFill(b, st, l, 10_000)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		puts := benchChanges(b, st, rng, benchUsers/100)
		if err := st.Apply(ctx, l, Batch{Put: puts}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fi.Size())/benchUsers, "file-B/user")
}

// benchFill writes the benchmark's benchUsers entries in batches of chunk.
func benchFill(b *testing.B, st Store, l *Lease, chunk int) {
	for i := 0; i < benchUsers; i += chunk {
		es := make([]Entry, 0, chunk)
		for j := i; j < i+chunk; j++ {
			es = append(es, benchEntry(j))
		}
		if err := st.Apply(ctx, l, Batch{Put: es}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchChanges reads n random users of the benchmark's pair and returns
// their entries with AttrHash bumped, as a delta cycle rewrites them.
func benchChanges(b *testing.B, st Store, rng *rand.Rand, n int) []Entry {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = guid(1, rng.IntN(benchUsers))
	}
	cur, err := st.GetMany(ctx, pairAB, ids)
	if err != nil {
		b.Fatal(err)
	}
	puts := make([]Entry, 0, len(cur))
	for _, e := range cur {
		e.AttrHash++
		puts = append(puts, e)
	}
	return puts
}

// BenchmarkBoltConcurrentApply measures the embedded store with fsync on,
// as the worker's apply tasks use it: each of N writers (spread over the
// pairs) takes a user lock, then writes one entry and one log record and
// releases the lock in one Apply, per user. Meanwhile a keep-alive extends
// every pair's lease in a loop. It reports:
//
//	commits/s       write transactions committed per second
//	fsyncs/user     fsyncs per user written (bbolt: 2 per commit, +1 per file growth)
//	users/commit    users per commit (the group commit's batching)
//	extend-max-ms   the slowest lease extension while the writes ran
//
// A user is one op, so ns/op is the wall time per user.
func BenchmarkBoltConcurrentApply(b *testing.B) {
	for _, c := range []struct{ writers, pairs int }{{1, 1}, {4, 1}, {16, 1}, {16, 4}} {
		b.Run(fmt.Sprintf("writers=%d/pairs=%d", c.writers, c.pairs), func(b *testing.B) {
			benchConcurrentApply(b, c.writers, c.pairs)
		})
	}
}

func benchConcurrentApply(b *testing.B, writers, pairs int) {
	st, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	leases := make([]*Lease, pairs)
	for p := range leases {
		if leases[p], err = st.Acquire(ctx, fmt.Sprintf("contoso->fabrikam%d", p), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var extendMax atomic.Int64
	extended := make(chan struct{})
	go func() {
		defer close(extended)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, l := range leases {
				t0 := time.Now()
				if err := l.Extend(ctx); err != nil {
					b.Error(err)
					return
				}
				if d := int64(time.Since(t0)); d > extendMax.Load() {
					extendMax.Store(d)
				}
			}
		}
	}()
	var next atomic.Int64
	_, c0, f0, _ := CommitStats(st)
	start := time.Now()
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		l := leases[w%pairs]
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				e := benchEntry(i)
				lk, _, err := st.LockUser(ctx, l.Pair(), e.SourceID, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				err = st.Apply(ctx, l, Batch{Put: []Entry{e}, Unlock: []*Lease{lk},
					Log: []Record{{SourceID: e.SourceID, GuestID: e.GuestID, Action: "create", Result: "ok"}}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	close(stop)
	<-extended
	_, c1, f1, _ := CommitStats(st)
	commits, fsyncs := float64(c1-c0), float64(f1-f0)
	b.ReportMetric(commits/elapsed.Seconds(), "commits/s")
	b.ReportMetric(fsyncs/float64(b.N), "fsyncs/user")
	b.ReportMetric(float64(b.N)/max(commits, 1), "users/commit")
	b.ReportMetric(float64(extendMax.Load())/1e6, "extend-max-ms")
}
