package guestmap

import (
	"os"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every write of the embedded store after opening goes
// through write, which puts the writes of concurrent callers into one
// bbolt transaction: one commit, one pair of fdatasyncs, for all of them.
// The apply tasks of the worker (4 to 16 per target tenant, several pairs)
// each write one user at a time, so with a commit per call the store did
// as many fsyncs as users, and on a busy disk each takes tens of
// milliseconds or more.
//
// Why not bbolt's db.Batch: it could keep the semantics (our functions are
// idempotent and have no side effects outside the transaction, and fencing
// is decided before the call: see pin in bolt_lease.go), but its grouping
// is a timer. A lone caller always waits MaxBatchDelay (10ms by default)
// before its commit, which a sequential writer pays on every call; and a
// batch is closed when its timer fires, not when the disk is free, so the
// callers arriving during one slow fsync are split into one batch per
// delay, queued on the writer lock, each with its own fsync: exactly the
// case of the busy disk. Raising the delay trades one for the other.
// Here the batch is whatever queued while the previous commit ran (the
// classic leader/follower group commit): no delay when the disk is idle,
// and as many calls per commit as arrived during an fsync when it is slow,
// so the commit rate adapts to the disk without a tunable.
//
// As with db.Batch, a call's function may run more than once: when one
// function of a group fails, the transaction is rolled back, the failed
// function is run alone (its error may depend on the others' writes) and
// the rest run again in a new transaction. Functions must therefore leave
// nothing outside the transaction behind and reset what they compute.

// maxGroup bounds the calls that share one transaction, so a burst does
// not make one huge transaction (the worker has tens of callers at most).
const maxGroup = 256

// committer is the queue of writes waiting for the next group
// transaction. While leading is set one caller is committing; the others
// wait on their wake channel, which says either "done" or "lead next".
type committer struct {
	mu      sync.Mutex
	queue   []*commitCall
	leading bool // false implies an empty queue
}

type commitCall struct {
	fn   func(*bolt.Tx) error
	err  error
	wake chan bool // receives true when err is final, false to lead
}

// write runs fn in a write transaction, shared with the writes of other
// goroutines that queue meanwhile, and returns fn's error or the commit's.
// fn may run more than once (see above).
func (s *boltStore) write(fn func(*bolt.Tx) error) error {
	s.writes.Add(1)
	c := &commitCall{fn: fn, wake: make(chan bool, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		if done := <-c.wake; done {
			return c.err
		}
		// Promoted: c is the head of the queue.
	}
	// c is at the head of the queue: nobody else dequeues while it leads.
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	calls := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	s.commitGroup(calls)
	for _, x := range calls[1:] {
		x.wake <- true
	}

	// Hand the lead to the oldest waiter, or stop leading.
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- false
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	s.releaseMapped()
	return c.err
}

// commitGroup runs calls in one transaction and sets each call's error.
func (s *boltStore) commitGroup(calls []*commitCall) {
	calls = slices.Clone(calls) // a failure deletes from it; the caller wakes them all
	for len(calls) > 0 {
		failed := -1
		err := s.update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			if s.inTx != nil {
				s.inTx()
			}
			return nil
		})
		if failed < 0 || len(calls) == 1 {
			for _, c := range calls {
				c.err = err // nil, the lone call's error, or the commit's
			}
			return
		}
		bad := calls[failed]
		bad.err = s.update(bad.fn)
		calls = slices.Delete(calls, failed, failed+1)
	}
}

// update is db.Update counting the commits and the fsyncs they cost. With
// NoSync off, bbolt's Tx.Commit calls fdatasync twice (after the dirty
// pages, then after the meta page; NoFreelistSync means no freelist
// pages), and once more (fsync) when the commit grows the file, which we
// see as a larger file after the commit. NoSync leaves the grow fsync only.
func (s *boltStore) update(fn func(*bolt.Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		tx.OnCommit(s.countCommit)
		return nil
	})
}

// countCommit runs after each successful commit, still under bbolt's
// writer lock, so the size check is not raced by another commit.
func (s *boltStore) countCommit() {
	s.commits.Add(1)
	if !s.opts.NoSync {
		s.fsyncs.Add(2)
	}
	if fi, err := os.Stat(s.path); err == nil && fi.Size() > s.size.Swap(fi.Size()) {
		s.fsyncs.Add(1)
	}
}

// commitStats returns the write transactions committed since the store
// was opened (the one that initialises the file excluded) and the fsyncs
// they cost.
func (s *boltStore) commitStats() (commits, fsyncs uint64) {
	return s.commits.Load(), s.fsyncs.Load()
}

// CommitStats returns, for an embedded store since it was opened, the
// writes asked of it (Apply, AppendLog, ...), the commits they took and the
// fsyncs those cost, for benchmarks and diagnostics; ok is false for other
// stores. Writes over commits is the group commit's batching.
func CommitStats(st Store) (writes, commits, fsyncs uint64, ok bool) {
	b, isBolt := st.(*boltStore)
	if !isBolt {
		return 0, 0, 0, false
	}
	commits, fsyncs = b.commitStats()
	return b.writes.Load(), commits, fsyncs, true
}
