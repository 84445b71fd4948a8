// Package storemetrics times the operations of a guestmap.Store: Wrap
// returns a Store that tells an Observer how long each call took and how
// it ended, so the daemon can export store latency (Redis round trips,
// bbolt transactions) without package guestmap knowing about metrics.
package storemetrics

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// Observer hears every operation of a wrapped Store as it ends. It is
// called from the callers' goroutines: it must be safe for concurrent use
// and quick.
type Observer interface {
	// Operation is one call: op is the method's name in snake case (one
	// of Ops), pair the pair it concerned ("" for Pairs, AppendLog and
	// Logs), d its duration and err its error.
	Operation(op, pair string, d time.Duration, err error)
}

// Ops are the op names Observer.Operation receives, one per method of
// guestmap.Store except Close.
var Ops = []string{
	"acquire", "lease_holder", "lock_user", "apply", "get", "get_many", "scan", "count",
	"delta_link", "fast_link", "group_entries", "group_link", "status", "clear_quarantine", "staged", "decide", "append_log", "logs", "pairs",
	"heartbeat", "leave", "replicas", "epoch",
}

// Wrap returns s with every operation but Close reported to obs. The leases
// it returns are s's own: their extensions and releases go to s directly
// and are not timed.
func Wrap(s guestmap.Store, obs Observer) guestmap.Store {
	return &store{s: s, obs: obs}
}

type store struct {
	s   guestmap.Store
	obs Observer
}

// done reports an operation that started at start and ended with *err;
// deferred, it reads the named result once the call has returned.
func (w *store) done(op, pair string, start time.Time, err *error) {
	w.obs.Operation(op, pair, time.Since(start), *err)
}

func (w *store) Acquire(ctx context.Context, pair string, ttl time.Duration) (_ *guestmap.Lease, err error) {
	defer w.done("acquire", pair, time.Now(), &err)
	return w.s.Acquire(ctx, pair, ttl)
}

func (w *store) LeaseHolder(ctx context.Context, pair string) (holder string, until time.Time, held bool, err error) {
	defer w.done("lease_holder", pair, time.Now(), &err)
	return w.s.LeaseHolder(ctx, pair)
}

func (w *store) LockUser(ctx context.Context, pair, sourceID string, ttl time.Duration) (_ *guestmap.Lease, _ *guestmap.Entry, err error) {
	defer w.done("lock_user", pair, time.Now(), &err)
	return w.s.LockUser(ctx, pair, sourceID, ttl)
}

func (w *store) Apply(ctx context.Context, lease *guestmap.Lease, b guestmap.Batch) (err error) {
	pair := ""
	if lease != nil {
		pair = lease.Pair()
	}
	defer w.done("apply", pair, time.Now(), &err)
	return w.s.Apply(ctx, lease, b)
}

func (w *store) Get(ctx context.Context, pair, sourceID string) (_ guestmap.Entry, _ bool, err error) {
	defer w.done("get", pair, time.Now(), &err)
	return w.s.Get(ctx, pair, sourceID)
}

func (w *store) GetMany(ctx context.Context, pair string, sourceIDs []string) (_ map[string]guestmap.Entry, err error) {
	defer w.done("get_many", pair, time.Now(), &err)
	return w.s.GetMany(ctx, pair, sourceIDs)
}

// Scan's duration leaves out the time spent in page, the caller's work:
// what is timed is the store's own reading.
func (w *store) Scan(ctx context.Context, pair string, page func([]guestmap.Entry) error) error {
	start := time.Now()
	var inPage time.Duration
	err := w.s.Scan(ctx, pair, func(es []guestmap.Entry) error {
		t := time.Now()
		defer func() { inPage += time.Since(t) }()
		return page(es)
	})
	w.obs.Operation("scan", pair, time.Since(start)-inPage, err)
	return err
}

func (w *store) Count(ctx context.Context, pair string) (_ int, err error) {
	defer w.done("count", pair, time.Now(), &err)
	return w.s.Count(ctx, pair)
}

func (w *store) DeltaLink(ctx context.Context, pair string) (_ string, err error) {
	defer w.done("delta_link", pair, time.Now(), &err)
	return w.s.DeltaLink(ctx, pair)
}

func (w *store) FastLink(ctx context.Context, pair string) (_ string, err error) {
	defer w.done("fast_link", pair, time.Now(), &err)
	return w.s.FastLink(ctx, pair)
}

func (w *store) GroupEntries(ctx context.Context, pair string) (_ []guestmap.GroupEntry, err error) {
	defer w.done("group_entries", pair, time.Now(), &err)
	return w.s.GroupEntries(ctx, pair)
}

func (w *store) GroupLink(ctx context.Context, pair string) (_ string, err error) {
	defer w.done("group_link", pair, time.Now(), &err)
	return w.s.GroupLink(ctx, pair)
}

func (w *store) Status(ctx context.Context, pair string) (_ guestmap.Status, err error) {
	defer w.done("status", pair, time.Now(), &err)
	return w.s.Status(ctx, pair)
}

func (w *store) ClearQuarantine(ctx context.Context, pair string) (err error) {
	defer w.done("clear_quarantine", pair, time.Now(), &err)
	return w.s.ClearQuarantine(ctx, pair)
}

func (w *store) Staged(ctx context.Context, pair string) (_ []guestmap.Staged, err error) {
	defer w.done("staged", pair, time.Now(), &err)
	return w.s.Staged(ctx, pair)
}

func (w *store) Decide(ctx context.Context, pair string, d guestmap.Decision, by string, sourceIDs ...string) (_ int, err error) {
	defer w.done("decide", pair, time.Now(), &err)
	return w.s.Decide(ctx, pair, d, by, sourceIDs...)
}

func (w *store) AppendLog(ctx context.Context, recs ...guestmap.Record) (err error) {
	defer w.done("append_log", "", time.Now(), &err)
	return w.s.AppendLog(ctx, recs...)
}

func (w *store) Logs(ctx context.Context, q guestmap.LogQuery) (_ []guestmap.Record, err error) {
	defer w.done("logs", "", time.Now(), &err)
	return w.s.Logs(ctx, q)
}

func (w *store) Pairs(ctx context.Context) (_ []string, err error) {
	defer w.done("pairs", "", time.Now(), &err)
	return w.s.Pairs(ctx)
}

func (w *store) Close() error { return w.s.Close() }

func (w *store) Heartbeat(ctx context.Context, r guestmap.Replica, ttl time.Duration) (err error) {
	defer w.done("heartbeat", "", time.Now(), &err)
	return w.s.Heartbeat(ctx, r, ttl)
}

func (w *store) Leave(ctx context.Context, id string) (err error) {
	defer w.done("leave", "", time.Now(), &err)
	return w.s.Leave(ctx, id)
}

func (w *store) Replicas(ctx context.Context) (_ []guestmap.Replica, err error) {
	defer w.done("replicas", "", time.Now(), &err)
	return w.s.Replicas(ctx)
}

func (w *store) Epoch(ctx context.Context) (_ guestmap.Epoch, err error) {
	defer w.done("epoch", "", time.Now(), &err)
	return w.s.Epoch(ctx)
}
