package shard

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// Store is what a Membership needs of the state store.
type Store interface {
	Heartbeat(ctx context.Context, r guestmap.Replica, ttl time.Duration) error
	Leave(ctx context.Context, id string) error
	Replicas(ctx context.Context) ([]guestmap.Replica, error)
	Status(ctx context.Context, pair string) (guestmap.Status, error)
}

// DefaultSettle is how long a replica waits after announcing itself before
// its first cycle, so replicas started together see one another and do
// not all start on every pair.
const DefaultSettle = 2 * time.Second

// Membership is this replica's seat among the replicas sharing a store:
// it announces the replica every third of TTL, keeps the list of live
// replicas and the assignment computed from it, and answers Turn for each
// pair before its cycle. Run it for the life of the daemon.
type Membership struct {
	Store Store
	// Self describes this replica; Self.ID must be the Holder its store
	// writes into leases, so status can match leases to replicas.
	Self  guestmap.Replica
	Pairs []Pair
	// TTL is the heartbeat's lifetime (the daemon uses lease_ttl): a
	// replica silent for longer is gone, and its pairs move.
	TTL time.Duration
	// Grace is how long a pair may go without a cycle before any replica
	// runs it (see Decide).
	Grace time.Duration
	// Settle is the wait before the first Turn answers (DefaultSettle
	// when zero).
	Settle time.Duration
	Now    func() time.Time
	Log    *slog.Logger
	// OnShare, when set, hears this replica's share each time it changes
	// (the pairs it runs, in the order of Pairs; empty for none).
	OnShare func(share []string)

	once  sync.Once
	ready chan struct{}
	since time.Time

	mu     sync.Mutex
	live   []guestmap.Replica
	assign map[string]string
}

func (m *Membership) init() {
	m.once.Do(func() {
		m.ready = make(chan struct{})
		if m.Now == nil {
			m.Now = time.Now
		}
		if m.Log == nil {
			m.Log = slog.Default()
		}
		if m.Settle <= 0 {
			m.Settle = DefaultSettle
		}
		if m.TTL <= 0 {
			m.TTL = 30 * time.Second
		}
		m.since = m.Now()
		m.Self.Configured = nil
		for _, p := range m.Pairs {
			m.Self.Configured = append(m.Self.Configured, p.Name)
		}
	})
}

// Run announces the replica until ctx ends, then removes it from the store
// so its pairs move at once rather than when its heartbeat lapses.
func (m *Membership) Run(ctx context.Context) {
	m.init()
	m.beat(ctx)
	select {
	case <-ctx.Done():
	case <-time.After(m.Settle):
	}
	m.beat(ctx)
	close(m.ready)
	t := time.NewTicker(max(m.TTL/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := m.Store.Leave(lctx, m.Self.ID); err != nil {
				m.Log.Warn("could not remove this replica from the store; the others take its pairs when its heartbeat lapses", "replica", m.Self.ID, "error", err)
			}
			return
		case <-t.C:
			m.beat(ctx)
		}
	}
}

// beat lists the live replicas, recomputes the assignment and announces
// this replica with its share. A store that does not answer keeps the
// last assignment: the leases still keep two replicas off one pair.
func (m *Membership) beat(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	live, err := m.Store.Replicas(ctx)
	if err != nil {
		m.Log.Warn("could not list the replicas; keeping the last assignment", "error", err)
	}
	m.mu.Lock()
	if err == nil {
		m.live = live
	}
	cands := make([]Candidate, 0, len(m.live)+1)
	self := false
	for _, r := range m.live {
		if r.ID == m.Self.ID {
			self = true
			r.Configured = m.Self.Configured // ours, whatever the store says
		}
		cands = append(cands, Candidate{ID: r.ID, Configured: r.Configured, Claims: r.Pairs})
	}
	if !self {
		cands = append(cands, Candidate{ID: m.Self.ID, Configured: m.Self.Configured, Claims: m.Self.Pairs})
	}
	prev := m.assign
	m.assign = Assign(m.Pairs, cands)
	var share []string
	for _, p := range m.Pairs {
		if m.assign[p.Name] == m.Self.ID {
			share = append(share, p.Name)
		}
	}
	changed := prev == nil || !slices.Equal(share, m.Self.Pairs)
	m.Self.Pairs = share
	r := m.Self
	m.mu.Unlock()
	if changed {
		m.Log.Info("this replica's share of the pairs", "replica", r.ID, "replicas", len(cands), "pairs", share)
		if m.OnShare != nil {
			m.OnShare(share)
		}
	}
	if err := m.Store.Heartbeat(ctx, r, m.TTL); err != nil && ctx.Err() == nil {
		m.Log.Warn("heartbeat failed; if it stays failing for the TTL, the other replicas take this replica's pairs", "replica", r.ID, "ttl", m.TTL, "error", err)
	}
}

// Turn says whether this replica runs pair now, and why not. It waits for
// the first heartbeats to settle.
func (m *Membership) Turn(ctx context.Context, pair string) (bool, string) {
	m.init()
	select {
	case <-m.ready:
	case <-ctx.Done():
		return false, "stopping"
	}
	m.mu.Lock()
	owner := m.assign[pair]
	m.mu.Unlock()
	t := Turn{Pair: pair, Self: m.Self.ID, Owner: owner, Since: m.since, Now: m.Now(), Grace: m.Grace}
	if owner != m.Self.ID && owner != "" {
		// Only read when it matters: has the owner been running it?
		if st, err := m.Store.Status(ctx, pair); err == nil {
			t.LastRun = latest(st.CycleEnd, st.LastErrorAt)
		}
	}
	return Decide(t)
}

// Replicas returns the live replicas as last listed, for status.
func (m *Membership) Replicas() []guestmap.Replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
