package guestmap

import (
	"errors"
	"testing"
	"time"
)

// testFastLink: the fast lane's delta link is committed with its batch,
// fenced like every write, and kept apart from the cycle's delta link (a
// reset of one leaves the other). Run by runContract on both stores.
func testFastLink(t *testing.T, open opener) {
	s := open(t, Options{})
	if got, err := s.FastLink(ctx, pairAB); got != "" || err != nil {
		t.Fatalf("fresh fast link = %q, %v", got, err)
	}
	l := mustAcquire(t, s, pairAB, time.Minute)
	delta, fast := "delta-1", "fast-1"
	mustApply(t, s, l, Batch{DeltaLink: &delta})
	if got, _ := s.FastLink(ctx, pairAB); got != "" {
		t.Fatalf("fast link written by a delta link commit: %q", got)
	}
	// With an entry, a log record and a user lock to release: the script's
	// key layout puts the fast link before the lock keys.
	lk, _, err := s.LockUser(ctx, pairAB, sampleEntry(1).SourceID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}, Log: []Record{{SourceID: sampleEntry(1).SourceID, Action: "disable", Result: "ok"}},
		FastLink: &fast, Unlock: []*Lease{lk}})
	if got, _ := s.FastLink(ctx, pairAB); got != fast {
		t.Fatalf("fast link = %q, want %q", got, fast)
	}
	if got, _ := s.DeltaLink(ctx, pairAB); got != delta {
		t.Fatalf("delta link = %q after a fast link commit, want %q", got, delta)
	}
	if _, _, err := s.LockUser(ctx, pairAB, sampleEntry(1).SourceID, time.Minute); err != nil {
		t.Fatalf("user lock not released beside a fast link: %v", err)
	}
	// Both links in one batch, then a reset of the delta link only.
	delta2, fast2 := "delta-2", "fast-2"
	mustApply(t, s, l, Batch{DeltaLink: &delta2, FastLink: &fast2})
	if d, f := mustLinks(t, s); d != delta2 || f != fast2 {
		t.Fatalf("links = %q, %q; want %q, %q", d, f, delta2, fast2)
	}
	mustApply(t, s, l, Batch{DropDeltaLink: true})
	if d, f := mustLinks(t, s); d != "" || f != fast2 {
		t.Fatalf("after DropDeltaLink links = %q, %q; want \"\", %q", d, f, fast2)
	}
	if got, _ := s.FastLink(ctx, "other"); got != "" {
		t.Fatalf("other pair's fast link = %q", got)
	}
	// Fenced: a lease taken over cannot move the fast link.
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	cur := mustAcquire(t, s, pairAB, time.Minute)
	stale := "stale"
	if err := s.Apply(ctx, l, Batch{FastLink: &stale}); !errors.Is(err, ErrFenced) && !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale fast link write: %v, want fenced", err)
	}
	if got, _ := s.FastLink(ctx, pairAB); got != fast2 {
		t.Fatalf("fast link = %q after a fenced write, want %q", got, fast2)
	}
	_ = cur
}

func mustLinks(t *testing.T, s Store) (delta, fast string) {
	t.Helper()
	delta, err := s.DeltaLink(ctx, pairAB)
	if err != nil {
		t.Fatal(err)
	}
	if fast, err = s.FastLink(ctx, pairAB); err != nil {
		t.Fatal(err)
	}
	return delta, fast
}

// TestSplitBatchFastLinkLast: a batch cut into chunks commits its fast
// link with the last chunk, after every entry, like the delta link.
func TestSplitBatchFastLinkLast(t *testing.T) {
	link := "fast"
	b := Batch{FastLink: &link}
	for i := range 5 {
		b.Put = append(b.Put, sampleEntry(i))
	}
	chunks := splitBatch(b, 2)
	for i, c := range chunks {
		if last := i == len(chunks)-1; (c.FastLink != nil) != last {
			t.Errorf("chunk %d of %d: FastLink set = %v", i, len(chunks), c.FastLink != nil)
		}
	}
}
