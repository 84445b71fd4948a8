package guestmap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/internal/testredis"
)

// opener opens a fresh, empty store for one subtest.
type opener func(t *testing.T, opts Options) Store

// TestBoltContract runs the contract suite on the embedded store.
func TestBoltContract(t *testing.T) {
	runContract(t, func(t *testing.T, opts Options) Store {
		opts.NoSync = true // durability is tested on its own; fsync per write only slows the suite
		s, err := Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "ctsync.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestRedisContract runs the contract suite on a private redis-server;
// every subtest gets its own key prefix.
func TestRedisContract(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	var n atomic.Int64
	runContract(t, func(t *testing.T, opts Options) Store {
		opts.Prefix = fmt.Sprintf("t%d", n.Add(1))
		s, err := Open(context.Background(), srv.URL(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func runContract(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"EntriesRoundTrip", testEntriesRoundTrip},
		{"BulkReadWrite", testBulk},
		{"MultiChunkBatch", testMultiChunk},
		{"DeltaLinkOnlyOnCommit", testDeltaLink},
		{"FastLinkApart", testFastLink},
		{"FencedAfterTakeover", testFencedAfterTakeover},
		{"ExpiredHolderFenced", testExpiredHolderFenced},
		{"ReleaseByNonHolder", testReleaseByNonHolder},
		{"LeaseRace", testLeaseRace},
		{"UserLocks", testUserLocks},
		{"LeaseHolder", testLeaseHolder},
		{"StatusAndQuarantine", testStatus},
		{"StagedDecisions", testStaged},
		{"ProvisioningLog", testLog},
		{"LogCap", testLogCap},
		{"PairsAndReset", testPairsAndReset},
		{"Rebuild", testRebuild},
		{"InvalidArguments", testInvalid},
		{"Replicas", testReplicas},
		{"Epoch", testEpoch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var ctx = context.Background()

const (
	tenantA = "11111111-2222-3333-4444-555555555555"
	pairAB  = "contoso->fabrikam"
)

// guid returns a deterministic canonical GUID.
func guid(kind, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i)
}

func sampleEntry(i int) Entry {
	src := guid(1, i)
	return Entry{
		SourceID: src, GuestID: guid(2, i), Stamp: directory.Stamp(tenantA, src),
		AttrHash: uint64(i) * 0x9e3779b97f4a7c15, State: StateActive,
		ManagerSourceID: guid(1, i+1), GuestUPN: fmt.Sprintf("user%d_contoso.com#EXT#@fabrikam.onmicrosoft.com", i),
		Created: time.Unix(1_700_000_000, 0).UTC(), Updated: time.Unix(1_700_000_100, 0).UTC(),
	}
}

func mustAcquire(t *testing.T, s Store, pair string, ttl time.Duration) *Lease {
	t.Helper()
	l, err := s.Acquire(ctx, pair, ttl)
	if err != nil {
		t.Fatalf("acquire %s: %v", pair, err)
	}
	return l
}

func mustApply(t *testing.T, s Store, l *Lease, b Batch) {
	t.Helper()
	if err := s.Apply(ctx, l, b); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func testEntriesRoundTrip(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	parked := Entry{SourceID: "not-a-guid", State: StateParked, Attempts: 3,
		NextRetry: time.Unix(1_800_000_000, 0).UTC(), LastError: "Request_BadRequest: bad mail",
		Stamp: "ctsync:other:x", Created: time.Unix(1_700_000_000, 0).UTC(), Updated: time.Unix(1_700_000_001, 0).UTC()}
	want := []Entry{sampleEntry(1), parked}
	mustApply(t, s, l, Batch{Put: want})
	for _, w := range want {
		got, ok, err := s.Get(ctx, pairAB, w.SourceID)
		if err != nil || !ok {
			t.Fatalf("get %s: ok=%v err=%v", w.SourceID, ok, err)
		}
		if got != w {
			t.Errorf("get %s:\n got %+v\nwant %+v", w.SourceID, got, w)
		}
	}
	if _, ok, err := s.Get(ctx, pairAB, "missing"); ok || err != nil {
		t.Errorf("get missing: ok=%v err=%v", ok, err)
	}
	mustApply(t, s, l, Batch{Delete: []string{"not-a-guid"}})
	if n, err := s.Count(ctx, pairAB); n != 1 || err != nil {
		t.Errorf("count after delete = %d, %v; want 1", n, err)
	}
	// A zero Updated is filled by the store.
	e := sampleEntry(2)
	e.Updated = time.Time{}
	mustApply(t, s, l, Batch{Put: []Entry{e}})
	if got, _, _ := s.Get(ctx, pairAB, e.SourceID); got.Updated.IsZero() {
		t.Error("Updated not filled in")
	}
}

func testBulk(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	var es []Entry
	var ids []string
	for i := range 2500 {
		es = append(es, sampleEntry(i))
		ids = append(ids, es[i].SourceID)
	}
	mustApply(t, s, l, Batch{Put: es})
	got, err := s.GetMany(ctx, pairAB, append(ids, "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2500 || got[ids[1234]] != es[1234] {
		t.Fatalf("GetMany: %d entries, [1234]=%+v", len(got), got[ids[1234]])
	}
	seen := map[string]bool{}
	pages := 0
	err = s.Scan(ctx, pairAB, func(page []Entry) error {
		pages++
		for _, e := range page {
			if seen[e.SourceID] {
				t.Errorf("scan repeated %s", e.SourceID)
			}
			seen[e.SourceID] = true
		}
		return nil
	})
	if err != nil || len(seen) != 2500 || pages < 2 {
		t.Fatalf("scan: %d entries in %d pages, err %v", len(seen), pages, err)
	}
	stop := errors.New("stop")
	if err := s.Scan(ctx, pairAB, func([]Entry) error { return stop }); err != stop {
		t.Errorf("scan did not return the page's error: %v", err)
	}
	if got, err := s.GetMany(ctx, "empty-pair", ids[:3]); err != nil || len(got) != 0 {
		t.Errorf("GetMany on unknown pair: %v %v", got, err)
	}
}

func testMultiChunk(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	var es []Entry
	var logs []Record
	for i := range 2100 {
		es = append(es, sampleEntry(i))
		logs = append(logs, Record{SourceID: es[i].SourceID, Action: "create", Result: "ok"})
	}
	link := "https://graph/delta?token=1"
	mustApply(t, s, l, Batch{Put: es, Log: logs, DeltaLink: &link, Status: &Status{Cycle: "c1"}})
	if n, _ := s.Count(ctx, pairAB); n != 2100 {
		t.Errorf("count = %d", n)
	}
	if got, _ := s.DeltaLink(ctx, pairAB); got != link {
		t.Errorf("delta link = %q", got)
	}
	recs, err := s.Logs(ctx, LogQuery{Pair: pairAB, Limit: 5000})
	if err != nil || len(recs) != 2100 || recs[0].Pair != pairAB {
		t.Errorf("logs: %d, %v", len(recs), err)
	}
	// Delete and put in one batch: deletes run first.
	mustApply(t, s, l, Batch{Delete: []string{es[0].SourceID}, Put: es[:1]})
	if _, ok, _ := s.Get(ctx, pairAB, es[0].SourceID); !ok {
		t.Error("put after delete in one batch lost")
	}
}

func testDeltaLink(t *testing.T, open opener) {
	s := open(t, Options{})
	if got, err := s.DeltaLink(ctx, pairAB); got != "" || err != nil {
		t.Fatalf("fresh delta link = %q, %v", got, err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})
	if got, _ := s.DeltaLink(ctx, pairAB); got != "" {
		t.Fatalf("delta link written without commit: %q", got)
	}
	if err := CommitDeltaLink(ctx, s, l, "link-2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeltaLink(ctx, pairAB); got != "link-2" {
		t.Fatalf("delta link = %q", got)
	}
	if got, _ := s.DeltaLink(ctx, "other"); got != "" {
		t.Fatalf("other pair's delta link = %q", got)
	}
}

func testFencedAfterTakeover(t *testing.T, open opener) {
	s := open(t, Options{})
	old := mustAcquire(t, s, pairAB, 40*time.Millisecond)
	if old.Fence() == 0 || len(old.Token()) != 32 {
		t.Fatalf("fence %d token len %d", old.Fence(), len(old.Token()))
	}
	waitLost(t, s, old)
	cur := mustAcquire(t, s, pairAB, time.Minute)
	if cur.Fence() <= old.Fence() {
		t.Errorf("fence did not grow: %d then %d", old.Fence(), cur.Fence())
	}
	mustApply(t, s, cur, Batch{Put: []Entry{sampleEntry(1)}})
	stale := sampleEntry(1)
	stale.GuestID = "stale"
	link := "stale-link"
	err := s.Apply(ctx, old, Batch{Put: []Entry{stale}, DeltaLink: &link})
	if !errors.Is(err, ErrFenced) || !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale write: %v, want ErrFenced", err)
	}
	if got, _, _ := s.Get(ctx, pairAB, stale.SourceID); got.GuestID != sampleEntry(1).GuestID {
		t.Errorf("stale holder overwrote the entry: %+v", got)
	}
	if got, _ := s.DeltaLink(ctx, pairAB); got != "" {
		t.Errorf("stale holder wrote the delta link %q", got)
	}
	if err := old.Extend(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale extend: %v", err)
	}
	if !old.Until().IsZero() || old.Valid() {
		t.Error("a lost lease still claims validity")
	}
	if err := cur.Extend(ctx); err != nil || !cur.Valid() {
		t.Errorf("holder extend: %v", err)
	}
}

// forge copies a lease with another token: a holder that never won it.
func forge(l *Lease) *Lease {
	return newLease(l.owner, l.pair, l.sourceID, newToken(), l.fence, l.ttl, 0.01, time.Now())
}

// waitLost sleeps until l's TTL has certainly passed on the store.
func waitLost(t *testing.T, s Store, l *Lease) {
	t.Helper()
	time.Sleep(l.TTL() + 30*time.Millisecond)
}

func testExpiredHolderFenced(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, 40*time.Millisecond)
	if until := l.Until(); !until.Before(time.Now().Add(40 * time.Millisecond)) {
		t.Errorf("Until %v has no drift margin", until)
	}
	waitLost(t, s, l)
	err := s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(1)}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("expired holder's write: %v, want ErrFenced", err)
	}
	if n, _ := s.Count(ctx, pairAB); n != 0 {
		t.Errorf("expired holder wrote %d entries", n)
	}
}

func testReleaseByNonHolder(t *testing.T, open opener) {
	s := open(t, Options{})
	a := mustAcquire(t, s, pairAB, time.Minute)
	if _, err := s.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("second acquire: %v, want ErrHeld", err)
	}
	// A forged lease with the right pair and a wrong token.
	forged := forge(a)
	if err := forged.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("non-holder release: %v", err)
	}
	if err := forged.Extend(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("non-holder extend: %v", err)
	}
	if err := s.Apply(ctx, forged, Batch{Put: []Entry{sampleEntry(1)}}); !errors.Is(err, ErrFenced) {
		t.Errorf("non-holder write: %v", err)
	}
	if _, err := s.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("lease freed by a non-holder: %v", err)
	}
	mustApply(t, s, a, Batch{Put: []Entry{sampleEntry(1)}})
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("double release: %v", err)
	}
	b := mustAcquire(t, s, pairAB, time.Minute)
	if err := s.Apply(ctx, a, Batch{}); !errors.Is(err, ErrFenced) {
		t.Errorf("released holder's write: %v", err)
	}
	_ = b.Release(ctx)
}

// testLeaseRace: two holders race for the lease 10,000 rounds each and the
// store never lets both hold it at once.
func testLeaseRace(t *testing.T, open opener) {
	s := open(t, Options{})
	const rounds = 10_000
	var inside, both, wins atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range rounds {
				l, err := s.Acquire(ctx, pairAB, 10*time.Second)
				if errors.Is(err, ErrHeld) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				wins.Add(1)
				if inside.Add(1) != 1 {
					both.Add(1)
				}
				inside.Add(-1)
				if err := l.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if both.Load() != 0 {
		t.Fatalf("both holders held the lease %d times", both.Load())
	}
	if wins.Load() == 0 {
		t.Fatal("nobody ever won the lease")
	}
	t.Logf("%d of %d attempts won", wins.Load(), 2*rounds)
}

func testUserLocks(t *testing.T, open opener) {
	s := open(t, Options{})
	pl := mustAcquire(t, s, pairAB, time.Minute)
	e := sampleEntry(7)
	lk, got, err := s.LockUser(ctx, pairAB, e.SourceID, time.Minute)
	if err != nil || got != nil {
		t.Fatalf("lock unmapped user: %v %v", got, err)
	}
	if _, _, err := s.LockUser(ctx, pairAB, e.SourceID, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("second lock: %v", err)
	}
	if lk.SourceID() != e.SourceID || lk.Pair() != pairAB {
		t.Errorf("lock names %s/%s", lk.Pair(), lk.SourceID())
	}
	if err := s.Apply(ctx, lk, Batch{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("user lock used as a fence: %v", err)
	}
	// Write the result and release the lock in one batch.
	mustApply(t, s, pl, Batch{Put: []Entry{e}, Unlock: []*Lease{lk}})
	lk2, got, err := s.LockUser(ctx, pairAB, e.SourceID, time.Minute)
	if err != nil || got == nil || *got != e {
		t.Fatalf("relock after unlock: %v %+v", err, got)
	}
	forged := forge(lk2)
	if err := forged.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("non-holder unlock: %v", err)
	}
	mustApply(t, s, pl, Batch{Unlock: []*Lease{forged}}) // a lost lock is no error
	if _, _, err := s.LockUser(ctx, pairAB, e.SourceID, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("lock freed by a non-holder: %v", err)
	}
	if err := lk2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	short, _, err := s.LockUser(ctx, pairAB, "u2", 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	waitLost(t, s, short)
	if err := short.Extend(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("extend of an expired lock: %v", err)
	}
	if _, _, err := s.LockUser(ctx, pairAB, "u2", time.Minute); err != nil {
		t.Errorf("lock after expiry: %v", err)
	}
}

// holderOf reads pair's lease holder, failing the test on error.
func holderOf(t *testing.T, s Store, pair string) (string, time.Time, bool) {
	t.Helper()
	h, until, held, err := s.LeaseHolder(ctx, pair)
	if err != nil {
		t.Fatalf("lease holder of %s: %v", pair, err)
	}
	return h, until, held
}

// testLeaseHolder: the holder's name travels with the lease through
// acquire, extend, release and expiry; user locks never show as the pair's
// holder.
func testLeaseHolder(t *testing.T, open opener) {
	s := open(t, Options{Holder: "replica-a:42"})
	if h, until, held := holderOf(t, s, pairAB); held || h != "" || !until.IsZero() {
		t.Fatalf("unleased pair: holder %q until %v held %v; want free", h, until, held)
	}
	lk, _, err := s.LockUser(ctx, pairAB, "u1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, held := holderOf(t, s, pairAB); held {
		t.Error("a user lock shows as the pair's lease")
	}
	_ = lk.Release(ctx)

	before := time.Now()
	l := mustAcquire(t, s, pairAB, time.Minute)
	h, until, held := holderOf(t, s, pairAB)
	if !held || h != "replica-a:42" {
		t.Fatalf("held lease: holder %q held %v; want replica-a:42", h, held)
	}
	// The store's expiry: after the acquire started, at most a TTL later
	// than now (a bound on a computed time, not on how long anything took).
	if !until.After(before) || until.After(time.Now().Add(time.Minute)) {
		t.Errorf("until %v is not within a TTL of now", until)
	}
	if err := l.Extend(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _, held := holderOf(t, s, pairAB); !held || h != "replica-a:42" {
		t.Errorf("after extend: holder %q held %v", h, held)
	}
	if _, _, held := holderOf(t, s, "other"); held {
		t.Error("another pair shows as held")
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _, held := holderOf(t, s, pairAB); held || h != "" {
		t.Errorf("released lease: holder %q held %v; want free", h, held)
	}

	short := mustAcquire(t, s, pairAB, 40*time.Millisecond)
	waitLost(t, s, short)
	if h, _, held := holderOf(t, s, pairAB); held || h != "" {
		t.Errorf("expired lease: holder %q held %v; want free", h, held)
	}
	// A non-holder's release leaves the holder named.
	cur := mustAcquire(t, s, pairAB, time.Minute)
	_ = short.Release(ctx)
	_ = forge(cur).Release(ctx)
	if h, _, held := holderOf(t, s, pairAB); !held || h != "replica-a:42" {
		t.Errorf("after a non-holder's release: holder %q held %v", h, held)
	}

	// The default names this host and process.
	d := open(t, Options{})
	mustAcquire(t, d, pairAB, time.Minute)
	host, _ := os.Hostname()
	if h, _, _ := holderOf(t, d, pairAB); h != fmt.Sprintf("%s:%d", host, os.Getpid()) {
		t.Errorf("default holder %q, want HOSTNAME:PID", h)
	}
	if _, _, _, err := d.LeaseHolder(ctx, "bad{pair}"); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid pair name: %v, want ErrInvalid", err)
	}
}

func testStatus(t *testing.T, open opener) {
	s := open(t, Options{})
	if st, err := s.Status(ctx, pairAB); err != nil || st.Pair != pairAB || !st.CycleEnd.IsZero() {
		t.Fatalf("fresh status %+v %v", st, err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	start := time.Unix(1_700_000_000, 0).UTC()
	want := Status{Cycle: "c9", CycleStart: start, CycleEnd: start.Add(time.Second),
		Counts: map[string]int{"create": 3, "update": 1}, LastError: "boom", LastErrorAt: start,
		ConsecutiveFailures: 2, FailureRatio: 0.5}
	mustApply(t, s, l, Batch{Status: &want, Quarantine: &Quarantine{Reason: "deletes above threshold", Since: start}})
	got, err := s.Status(ctx, pairAB)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cycle != "c9" || got.Counts["create"] != 3 || got.FailureRatio != 0.5 || got.ConsecutiveFailures != 2 ||
		!got.CycleEnd.Equal(want.CycleEnd) || got.LastError != "boom" {
		t.Errorf("status %+v", got)
	}
	if !got.Quarantine.On || got.Quarantine.Reason != "deletes above threshold" || !got.Quarantine.Since.Equal(start) {
		t.Errorf("quarantine %+v", got.Quarantine)
	}
	// The history of cycles and the last success ride in the status:
	// both stores keep them, newest first, capped at HistoryLen.
	hist := want
	hist.LastSuccess = start.Add(time.Minute)
	for i := range HistoryLen + 3 {
		c := CycleSummary{Start: start.Add(time.Duration(i) * time.Minute), End: start.Add(time.Duration(i)*time.Minute + time.Second),
			Counts: map[string]int{"create": i}, Parked: i % 2, Full: i == 0}
		if i == HistoryLen+2 {
			c.Error = "read source: 401"
		}
		hist.AddCycle(c)
	}
	mustApply(t, s, l, Batch{Status: &hist})
	got, err = s.Status(ctx, pairAB)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != HistoryLen || !got.LastSuccess.Equal(hist.LastSuccess) {
		t.Fatalf("history of %d cycles, last success %v", len(got.History), got.LastSuccess)
	}
	newest, oldest := got.History[0], got.History[HistoryLen-1]
	if newest.Error != "read source: 401" || newest.Counts["create"] != HistoryLen+2 || !newest.End.Equal(start.Add((HistoryLen+2)*time.Minute+time.Second)) ||
		oldest.Counts["create"] != 3 || oldest.Parked != 1 || oldest.Error != "" {
		t.Errorf("history newest %+v oldest %+v", newest, oldest)
	}
	// A later status write does not lift the quarantine; the admin does.
	mustApply(t, s, l, Batch{Status: &Status{Cycle: "c10"}})
	if got, _ := s.Status(ctx, pairAB); !got.Quarantine.On || got.Cycle != "c10" {
		t.Errorf("after status write: %+v", got)
	}
	if err := s.ClearQuarantine(ctx, pairAB); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Status(ctx, pairAB); got.Quarantine.On {
		t.Error("quarantine not cleared")
	}
}

func testStaged(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	mustApply(t, s, l, Batch{Stage: []Staged{
		{SourceID: "b", GuestID: "gb", Action: "delete", Reason: "left scope"},
		{SourceID: "a", GuestID: "ga", Action: "disable", Reason: "disabled in source"},
		{SourceID: "c", Action: "delete"},
	}})
	if n, err := Approve(ctx, s, pairAB, "alice", "a", "zzz"); n != 1 || err != nil {
		t.Fatalf("approve = %d, %v", n, err)
	}
	if n, err := Reject(ctx, s, pairAB, "bob", "b"); n != 1 || err != nil {
		t.Fatalf("reject = %d, %v", n, err)
	}
	got, err := s.Staged(ctx, pairAB)
	if err != nil || len(got) != 3 {
		t.Fatalf("staged %+v %v", got, err)
	}
	if got[0].SourceID != "a" || got[0].Decision != Approved || got[0].DecidedBy != "alice" || got[0].Action != "disable" ||
		got[0].Since.IsZero() || got[0].DecidedAt.IsZero() {
		t.Errorf("a: %+v", got[0])
	}
	if got[1].Decision != Rejected || got[2].Decision != Pending {
		t.Errorf("b, c: %+v %+v", got[1], got[2])
	}
	if st, _ := s.Status(ctx, pairAB); st.StagedCount != 3 {
		t.Errorf("staged count %d", st.StagedCount)
	}
	// Restaging keeps a decision; unstaging drops it.
	mustApply(t, s, l, Batch{Stage: []Staged{{SourceID: "a", Action: "disable"}}, Unstage: []string{"b"}})
	mustApply(t, s, l, Batch{Stage: []Staged{{SourceID: "b", Action: "delete"}}})
	got, _ = s.Staged(ctx, pairAB)
	if got[0].Decision != Approved || got[1].Decision != Pending {
		t.Errorf("after restage: %+v", got)
	}
	if n, _ := s.Decide(ctx, pairAB, Pending, "", "a"); n != 1 {
		t.Error("reset to pending")
	}
	if _, err := s.Decide(ctx, pairAB, "maybe", "", "a"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad decision: %v", err)
	}
}

func testLog(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []Record
	for i := range 30 {
		recs = append(recs, Record{Time: base.Add(time.Duration(i) * time.Minute), Cycle: "c1",
			SourceID: fmt.Sprintf("u%d", i%3), GuestID: fmt.Sprintf("g%d", i%3), Action: "update",
			Changes: []Change{{Prop: "displayName", Old: "A", New: "B"}}, Result: "ok", Duration: 15 * time.Millisecond})
	}
	mustApply(t, s, l, Batch{Log: recs[:20]})
	if err := s.AppendLog(ctx, recs[20:]...); err == nil {
		t.Fatal("AppendLog accepted records without a pair")
	}
	for i := 20; i < 30; i++ {
		recs[i].Pair = pairAB
	}
	if err := s.AppendLog(ctx, recs[20:]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(ctx, Record{Pair: "other", Action: "create", Result: "error", Error: "x"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Logs(ctx, LogQuery{Pair: pairAB})
	if err != nil || len(all) != 30 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	r := all[29]
	if r.Pair != pairAB || r.Cycle != "c1" || r.Duration != 15*time.Millisecond || len(r.Changes) != 1 ||
		r.Changes[0].New != "B" || !r.Time.Equal(base.Add(29*time.Minute)) {
		t.Errorf("record %+v", r)
	}
	byUser, _ := s.Logs(ctx, LogQuery{Pair: pairAB, SourceID: "u1"})
	if len(byUser) != 10 {
		t.Errorf("by user: %d", len(byUser))
	}
	window, _ := s.Logs(ctx, LogQuery{Pair: pairAB, Since: base.Add(10 * time.Minute), Until: base.Add(15 * time.Minute)})
	if len(window) != 5 || !window[0].Time.Equal(base.Add(10*time.Minute)) {
		t.Errorf("by time: %d", len(window))
	}
	last, _ := s.Logs(ctx, LogQuery{Pair: pairAB, Limit: 4})
	if len(last) != 4 || !last[3].Time.Equal(base.Add(29*time.Minute)) || !last[0].Time.Before(last[1].Time) {
		t.Errorf("limit: %+v", last)
	}
	every, _ := s.Logs(ctx, LogQuery{})
	if len(every) != 31 {
		t.Errorf("all pairs: %d", len(every))
	}
	byGuest, _ := s.Logs(ctx, LogQuery{GuestID: "g2"})
	if len(byGuest) != 10 {
		t.Errorf("by guest: %d", len(byGuest))
	}
}

func testLogCap(t *testing.T, open opener) {
	s := open(t, Options{LogCap: 100})
	l := mustAcquire(t, s, pairAB, time.Minute)
	for range 10 {
		var recs []Record
		for range 100 {
			recs = append(recs, Record{Action: "update", Result: "ok"})
		}
		mustApply(t, s, l, Batch{Log: recs})
	}
	got, err := s.Logs(ctx, LogQuery{Pair: pairAB, Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	// Redis trims whole stream nodes (MAXLEN ~), so the cap is approximate.
	if len(got) < 100 || len(got) > 300 {
		t.Errorf("%d records kept with cap 100", len(got))
	}
}

func testPairsAndReset(t *testing.T, open opener) {
	s := open(t, Options{})
	if ps, err := s.Pairs(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("fresh pairs %v %v", ps, err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	_ = mustAcquire(t, s, "a->b", time.Minute)
	ps, err := s.Pairs(ctx)
	if err != nil || len(ps) != 2 || ps[0] != "a->b" || ps[1] != pairAB {
		t.Fatalf("pairs %v %v", ps, err)
	}
	link := "d1"
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1), sampleEntry(2)}, DeltaLink: &link,
		Quarantine: &Quarantine{Reason: "r"}, Status: &Status{Cycle: "x"}})
	if err := ResetPair(ctx, s, l); err != nil {
		t.Fatal(err)
	}
	n, _ := s.Count(ctx, pairAB)
	d, _ := s.DeltaLink(ctx, pairAB)
	st, _ := s.Status(ctx, pairAB)
	if n != 0 || d != "" || st.Quarantine.On || st.Cycle != "x" {
		t.Errorf("after reset: %d entries, link %q, status %+v", n, d, st)
	}
}

func testRebuild(t *testing.T, open opener) {
	s := open(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	keep := sampleEntry(1)    // same guest: keeps its hash
	moved := sampleEntry(2)   // another guest now: fresh entry
	gone := sampleEntry(3)    // no guest: removed
	deleted := sampleEntry(4) // soft-deleted: kept
	deleted.State = StateSoftDeleted
	mustApply(t, s, l, Batch{Put: []Entry{keep, moved, gone, deleted}})
	facts := []Fact{
		{GuestID: keep.GuestID, Stamp: keep.Stamp, Disabled: true},
		{SourceID: moved.SourceID, GuestID: "new-guest", Stamp: moved.Stamp},
		{GuestID: "dup", Stamp: keep.Stamp},
		{GuestID: "g9", Stamp: directory.Stamp("99999999-2222-3333-4444-555555555555", "x")},
		{GuestID: "g10", Stamp: "garbage"},
		{GuestID: guid(2, 5), Stamp: directory.Stamp(tenantA, guid(1, 5)), GuestUPN: "u5@x"},
	}
	pages := func(yield func([]Fact) error) error {
		if err := yield(facts[:3]); err != nil {
			return err
		}
		return yield(facts[3:])
	}
	res, err := Rebuild(ctx, s, l, pages, RebuildOptions{SourceTenantID: tenantA})
	if err != nil {
		t.Fatal(err)
	}
	if res.Facts != 6 || res.Mapped != 3 || res.Removed != 1 || res.Foreign != 2 || len(res.Duplicates) != 1 {
		t.Errorf("result %+v", res)
	}
	got, _ := s.GetMany(ctx, pairAB, []string{keep.SourceID, moved.SourceID, gone.SourceID, deleted.SourceID, guid(1, 5)})
	if g := got[keep.SourceID]; g.AttrHash != keep.AttrHash || g.State != StateDisabled {
		t.Errorf("kept entry %+v", g)
	}
	if g := got[moved.SourceID]; g.GuestID != "new-guest" || g.AttrHash != 0 || g.State != StateActive {
		t.Errorf("moved entry %+v", g)
	}
	if _, ok := got[gone.SourceID]; ok {
		t.Error("unbacked entry kept")
	}
	if _, ok := got[deleted.SourceID]; !ok {
		t.Error("soft-deleted entry dropped")
	}
	if g := got[guid(1, 5)]; g.GuestUPN != "u5@x" || g.Stamp != directory.Stamp(tenantA, guid(1, 5)) {
		t.Errorf("new entry %+v", g)
	}
	// Drop: everything comes from the facts alone.
	res, err = Rebuild(ctx, s, l, pages, RebuildOptions{SourceTenantID: tenantA, Drop: true})
	if err != nil || res.Mapped != 3 {
		t.Fatalf("drop rebuild %+v %v", res, err)
	}
	if n, _ := s.Count(ctx, pairAB); n != 3 {
		t.Errorf("count after drop rebuild %d", n)
	}
	if g, _, _ := s.Get(ctx, pairAB, keep.SourceID); g.AttrHash != 0 {
		t.Error("drop rebuild kept a hash")
	}
}

func testInvalid(t *testing.T, open opener) {
	s := open(t, Options{})
	if _, err := s.Acquire(ctx, "bad{pair}", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("brace pair: %v", err)
	}
	if _, err := s.Acquire(ctx, "", time.Minute); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty pair: %v", err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	if err := s.Apply(ctx, l, Batch{Put: []Entry{{SourceID: "x"}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero state: %v", err)
	}
	if err := s.Apply(ctx, l, Batch{Put: []Entry{{State: StateActive}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty source ID: %v", err)
	}
	if err := s.Apply(ctx, nil, Batch{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil lease: %v", err)
	}
	other := open(t, Options{})
	ol := mustAcquire(t, other, pairAB, time.Minute)
	if err := s.Apply(ctx, ol, Batch{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("lease of another store: %v", err)
	}
}
