package guestmap

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// heldWrite makes the next group transaction of s stop inside the
// transaction, after its writes and before its commit, until release is
// called: a write held up on a slow disk, without timing.
type heldWrite struct {
	armed   atomic.Bool
	entered chan struct{}
	hold    chan struct{}
	once    sync.Once
}

func holdNextWrite(s *boltStore) *heldWrite {
	h := &heldWrite{entered: make(chan struct{}), hold: make(chan struct{})}
	h.armed.Store(true)
	s.inTx = func() {
		if h.armed.CompareAndSwap(true, false) {
			close(h.entered)
			<-h.hold
		}
	}
	return h
}

func (h *heldWrite) release() { h.once.Do(func() { close(h.hold) }) }

// openBoltT opens a private embedded store; the hook is set before any
// goroutine writes.
func openBoltT(t *testing.T, opts Options) *boltStore {
	t.Helper()
	opts.NoSync = true
	s, err := openBolt(filepath.Join(t.TempDir(), "s.db"), opts.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// within runs f and fails the test if it does not return within a minute
// (a deadlock guard, not a timing assertion: f must not block at all).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s waited for the held write", what)
	}
}

// TestBoltLeaseOpsDuringWrite: while a fenced write is stuck inside its
// transaction, the holder extends its lease, and leases and locks are
// taken, read and released, all before the write is let go.
func TestBoltLeaseOpsDuringWrite(t *testing.T) {
	s := openBoltT(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	other := mustAcquire(t, s, "other->pair", time.Minute) // registers the pair (its one write)
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h := holdNextWrite(s)
	defer h.release()
	applied := make(chan error, 1)
	go func() { applied <- s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(1)}}) }()
	<-h.entered

	within(t, "lease operations", func() {
		before := l.Until()
		if err := l.Extend(ctx); err != nil || !l.Until().After(before) {
			t.Errorf("extend during a write: %v", err)
		}
		if _, _, held, err := s.LeaseHolder(ctx, pairAB); !held || err != nil {
			t.Errorf("lease holder during a write: %v %v", held, err)
		}
		if _, err := s.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
			t.Errorf("second acquire: %v", err)
		}
		o, err := s.Acquire(ctx, "other->pair", time.Minute)
		if err != nil {
			t.Errorf("acquire another pair: %v", err)
		} else if err := o.Extend(ctx); err != nil {
			t.Errorf("extend another pair: %v", err)
		}
		u, _, err := s.LockUser(ctx, pairAB, sampleEntry(2).SourceID, time.Minute)
		if err != nil {
			t.Errorf("lock a user: %v", err)
		} else if err := u.Release(ctx); err != nil {
			t.Errorf("unlock a user: %v", err)
		}
	})
	select {
	case err := <-applied:
		t.Fatalf("the held write returned early: %v", err)
	default: // still inside its transaction, as it must be
	}
	h.release()
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, pairAB, sampleEntry(1).SourceID); !ok {
		t.Error("the held write was not committed")
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) opts() Options       { return Options{Now: c.now} }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// TestBoltPinnedLease: a write that checked the lease pins it, so nobody
// else takes it before the write is on disk, even when the holder's lease
// expires or is released meanwhile; the holder cannot start new writes.
func TestBoltPinnedLease(t *testing.T) {
	for _, how := range []string{"expires", "released"} {
		t.Run(how, func(t *testing.T) {
			clk := newFakeClock()
			s := openBoltT(t, clk.opts())
			l := mustAcquire(t, s, pairAB, time.Minute)
			h := holdNextWrite(s)
			defer h.release()
			applied := make(chan error, 1)
			go func() { applied <- s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(1)}}) }()
			<-h.entered

			if how == "expires" {
				clk.add(2 * time.Minute)
				if err := l.Extend(ctx); !errors.Is(err, ErrLeaseLost) {
					t.Errorf("extend of an expired lease: %v", err)
				}
			} else if err := l.Release(ctx); err != nil {
				t.Fatalf("release during the write: %v", err)
			}
			if _, _, held, _ := s.LeaseHolder(ctx, pairAB); held {
				t.Error("a lease that ended is still reported held")
			}
			if _, err := s.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
				t.Fatalf("acquire while a write of the old holder is in flight: %v, want ErrHeld", err)
			}
			if err := s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(2)}}); !errors.Is(err, ErrFenced) {
				t.Errorf("new write of the old holder: %v, want ErrFenced", err)
			}
			h.release()
			if err := <-applied; err != nil {
				t.Fatalf("the write that checked the lease in time: %v", err)
			}
			n := mustAcquire(t, s, pairAB, time.Minute)
			if n.Fence() <= l.Fence() {
				t.Errorf("fence %d after %d", n.Fence(), l.Fence())
			}
			if got, _ := s.Count(ctx, pairAB); got != 1 {
				t.Errorf("%d entries, want the first write's only", got)
			}
		})
	}
}

// TestBoltGroupCommit: writes queued while a commit runs share the next
// transaction, and one that fails does not fail the others.
func TestBoltGroupCommit(t *testing.T) {
	s := openBoltT(t, Options{})
	l := mustAcquire(t, s, pairAB, time.Minute)
	c0, _ := s.commitStats()
	h := holdNextWrite(s)
	defer h.release()
	first := make(chan error, 1)
	go func() { first <- s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(0)}}) }()
	<-h.entered

	const n = 8
	errBad := errors.New("bad write")
	var runs atomic.Int64
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			errs[i] = s.Apply(ctx, l, Batch{Put: []Entry{sampleEntry(i)},
				Log: []Record{{SourceID: sampleEntry(i).SourceID, Action: "create", Result: "ok"}}})
		})
	}
	wg.Go(func() {
		errs[0] = s.write(func(*bolt.Tx) error { runs.Add(1); return errBad })
	})
	// Wait until all n+1 are queued behind the held commit.
	for queued := 0; queued < n+1; {
		time.Sleep(time.Millisecond)
		s.group.mu.Lock()
		queued = len(s.group.queue)
		s.group.mu.Unlock()
	}
	h.release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errs[0], errBad) {
		t.Errorf("failing write: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("write %d: %v", i+1, err)
		}
	}
	// The held commit, then: the group fails on the bad write, which runs
	// alone (and fails again, no commit), and the other n commit together.
	if c, _ := s.commitStats(); c-c0 != 2 {
		t.Errorf("%d commits for %d writes, want 2", c-c0, n+2)
	}
	if r := runs.Load(); r != 2 {
		t.Errorf("the failing function ran %d times, want 2 (in the group, then alone)", r)
	}
	if got, _ := s.Count(ctx, pairAB); got != n+1 {
		t.Errorf("%d entries, want %d", got, n+1)
	}
	if logs, _ := s.Logs(ctx, LogQuery{Pair: pairAB}); len(logs) != n {
		t.Errorf("%d log records, want %d (a rerun function must not log twice)", len(logs), n)
	}
}

// TestBoltCommitStats: with fsync on, a commit costs bbolt's two
// fdatasyncs, plus one when the file grows.
func TestBoltCommitStats(t *testing.T) {
	s, err := openBolt(filepath.Join(t.TempDir(), "s.db"), Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, time.Minute) // registers the pair: one commit
	mustApply(t, s, l, Batch{Put: []Entry{sampleEntry(1)}})
	c, f := s.commitStats()
	if c != 2 || f < 4 {
		t.Errorf("commits %d fsyncs %d, want 2 and at least 4", c, f)
	}
	if w, cc, ff, ok := CommitStats(s); !ok || w != 2 || cc != c || ff != f {
		t.Errorf("CommitStats %d %d %d %v", w, cc, ff, ok)
	}
}
