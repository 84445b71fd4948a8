package worker

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// laneRules is a pair policy for the fast lane's tests: scope is
// department "Sales", lifecycle actions as given.
type laneRules struct {
	Rules
	groups    []string
	actions   map[policy.Event]plan.Action
	threshold int
}

func (r laneRules) InScope(u directory.User, _ func(string) bool) (bool, string) {
	if u.Str("department") != "Sales" {
		return false, "department is not Sales"
	}
	return true, ""
}
func (r laneRules) Action(e policy.Event) plan.Action { return r.actions[e] }
func (r laneRules) DeletionThreshold() int            { return r.threshold }
func (r laneRules) Groups() []string                  { return r.groups }
func (r laneRules) SourceProperties() []string {
	return []string{"accountEnabled", "department", "manager", "mail", "userPrincipalName"}
}

var blocking = map[policy.Event]plan.Action{policy.Disabled: plan.Disable, policy.OutOfScope: plan.SoftDelete,
	policy.SoftDeleted: plan.Disable, policy.HardDeleted: plan.HardDelete}

func fullUser(id, dept string, enabled bool) directory.User {
	return directory.User{ID: id, Attrs: map[string]any{"accountEnabled": enabled, "department": dept, "mail": id + "@x", "userPrincipalName": id + "@x"}}
}

// TestDecideFast: which reported users lead to a disable.
func TestDecideFast(t *testing.T) {
	active := guestmap.Entry{SourceID: "u", GuestID: "g", State: guestmap.StateActive}
	with := func(s guestmap.State) guestmap.Entry { e := active; e.State = s; return e }
	onlyEnabled := func(on bool) directory.User {
		return directory.User{ID: "u", Attrs: map[string]any{"accountEnabled": on}}
	}
	none := map[policy.Event]plan.Action{policy.Disabled: plan.None, policy.OutOfScope: plan.None, policy.SoftDeleted: plan.None, policy.HardDeleted: plan.None}
	tests := []struct {
		name     string
		u        directory.User
		e        guestmap.Entry
		actions  map[policy.Event]plan.Action
		groups   []string
		complete bool
		act      bool
		reread   bool
		event    policy.Event
	}{
		{"disabled, in scope", fullUser("u", "Sales", false), active, blocking, nil, true, true, false, policy.Disabled},
		{"enabled, in scope: nothing", fullUser("u", "Sales", true), active, blocking, nil, true, false, false, ""},
		{"out of scope", fullUser("u", "Ops", true), active, blocking, nil, true, true, false, policy.OutOfScope},
		{"out of scope and disabled: out of scope first", fullUser("u", "Ops", false), active, blocking, nil, true, true, false, policy.OutOfScope},
		{"soft-deleted", directory.User{ID: "u", Removed: directory.SoftDeleted}, active, blocking, nil, false, true, false, policy.SoftDeleted},
		{"hard-deleted", directory.User{ID: "u", Removed: directory.HardDeleted}, active, blocking, nil, false, true, false, policy.HardDeleted},
		{"partial item: read by ID", onlyEnabled(false), active, blocking, nil, false, false, true, ""},
		{"partial item, group scope: disabled", onlyEnabled(false), active, blocking, []string{"grp"}, false, true, false, policy.Disabled},
		{"group scope: no scope check", fullUser("u", "Ops", true), active, blocking, []string{"grp"}, true, false, false, ""},
		{"lifecycle none: nothing", fullUser("u", "Sales", false), active, none, nil, true, false, false, policy.Disabled},
		{"already disabled: revoke only", fullUser("u", "Sales", false), with(guestmap.StateDisabled), blocking, nil, true, false, false, policy.Disabled},
		{"staged", fullUser("u", "Sales", false), with(guestmap.StateStaged), blocking, nil, true, false, false, ""},
		{"parked", fullUser("u", "Sales", false), with(guestmap.StateParked), blocking, nil, true, false, false, ""},
		{"soft-deleted guest", directory.User{ID: "u", Removed: directory.HardDeleted}, with(guestmap.StateSoftDeleted), blocking, nil, false, false, false, ""},
		{"no guest yet (invitation mark)", fullUser("u", "Sales", false), guestmap.Entry{SourceID: "u", Stamp: "s", State: guestmap.StateActive}, blocking, nil, true, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := laneRules{actions: tt.actions, groups: tt.groups}
			d := decideFast(tt.u, tt.e, r, len(tt.groups) == 0, tt.complete)
			wantRevoke := tt.e.State == guestmap.StateDisabled && tt.event != ""
			if d.act != tt.act || d.reread != tt.reread || d.event != tt.event || d.revoke != wantRevoke {
				t.Errorf("act=%v reread=%v event=%q, want act=%v reread=%v event=%q", d.act, d.reread, d.event, tt.act, tt.reread, tt.event)
			}
			if d.act && d.guestID != "g" {
				t.Errorf("guest %q", d.guestID)
			}
		})
	}
}

// laneSource is a source whose delta is scripted: the users each round
// reports, and the links it returns.
type laneSource struct {
	Source
	mu      sync.Mutex
	rounds  [][]directory.User
	users   map[string]directory.User
	deltas  int
	latests int
}

func (s *laneSource) Delta(_ context.Context, link string, _ []string, page func([]directory.User) error) (string, error) {
	s.mu.Lock()
	var us []directory.User
	if len(s.rounds) > 0 {
		us, s.rounds = s.rounds[0], s.rounds[1:]
	}
	s.deltas++
	n := s.deltas
	s.mu.Unlock()
	if len(us) > 0 {
		if err := page(us); err != nil {
			return "", err
		}
	}
	return link + "+" + string(rune('0'+n)), nil
}

func (s *laneSource) LatestDelta(context.Context, []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latests++
	return "L", nil
}

func (s *laneSource) User(_ context.Context, id string, _ []string) (*directory.User, error) {
	if u, ok := s.users[id]; ok {
		return &u, nil
	}
	return nil, directory.ErrNotFound
}

// laneTarget holds guests in memory.
type laneTarget struct {
	Target
	mu      sync.Mutex
	guests  map[string]directory.User
	revoked map[string]bool
}

func (t *laneTarget) Get(_ context.Context, id string, _ []string) (*directory.User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.guests[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return &g, nil
}

func (t *laneTarget) Update(_ context.Context, id string, props map[string]any) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range props {
		t.guests[id].Attrs[k] = v
	}
	return nil
}

func (t *laneTarget) RevokeSessions(_ context.Context, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.revoked[id] = true
	return nil
}

const laneTenant = "11111111-1111-4111-8111-111111111111"

func guestOf(p *Pair, src string) directory.User {
	return directory.User{ID: "g-" + src, Attrs: map[string]any{
		"accountEnabled": true, "creationType": "Invitation", "userType": "Guest",
		"userPrincipalName":    src + "_x#EXT#@t.onmicrosoft.com",
		"extensionAttribute15": p.Stamp(src),
	}}
}

// lanePair is a pair with users a, b, c mapped to active guests, the
// fast lane's link taken, on an embedded store.
func lanePair(t *testing.T, rules laneRules) (*Pair, *laneSource, *laneTarget) {
	t.Helper()
	st, err := guestmap.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), guestmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := &laneSource{users: map[string]directory.User{}}
	dst := &laneTarget{guests: map[string]directory.User{}, revoked: map[string]bool{}}
	p := &Pair{PairName: "a2b", SourceTenantID: laneTenant, Source: src, Target: dst, Store: st, Rules: rules,
		StampAttribute: "extensionAttribute15", LeaseTTL: 10 * time.Second, RevokeSessions: true, Log: quietLog()}
	l, err := st.Acquire(context.Background(), p.PairName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var es []guestmap.Entry
	for _, id := range []string{"a", "b", "c"} {
		g := guestOf(p, id)
		dst.guests[g.ID] = g
		src.users[id] = fullUser(id, "Sales", true)
		es = append(es, guestmap.Entry{SourceID: id, GuestID: g.ID, Stamp: p.Stamp(id), State: guestmap.StateActive})
	}
	if err := st.Apply(context.Background(), l, guestmap.Batch{Put: es}); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := p.FastRound(context.Background()); rep.Err != nil || !rep.Init {
		t.Fatalf("first round: %+v", rep)
	}
	if link, _ := st.FastLink(context.Background(), p.PairName); link != "L" || src.latests != 1 || src.deltas != 0 {
		t.Fatalf("first round: link %q, %d latest, %d delta reads", link, src.latests, src.deltas)
	}
	return p, src, dst
}

// TestFastRoundDisables: a disabled user's guest is disabled, its sessions
// revoked, the entry recorded disabled with a log record; a user whose
// guest is not ours is left alone; an idle round reads once and writes
// nothing.
func TestFastRoundDisables(t *testing.T) {
	ctx := context.Background()
	p, src, dst := lanePair(t, laneRules{actions: blocking})
	// b's guest now carries someone else's stamp: not ours to disable.
	dst.guests["g-b"].Attrs["extensionAttribute15"] = "ctsync:" + laneTenant + ":someone-else"
	src.users["a"] = fullUser("a", "Sales", false)
	src.users["b"] = fullUser("b", "Sales", false)
	src.rounds = [][]directory.User{{
		{ID: "a", Attrs: map[string]any{"accountEnabled": false}},
		{ID: "b", Attrs: map[string]any{"accountEnabled": false}},
		{ID: "stranger", Attrs: map[string]any{"accountEnabled": false}},
	}}
	rep := p.FastRound(ctx)
	if rep.Err != nil || rep.Reported != 3 || len(rep.Disabled) != 1 || rep.Disabled[0].SourceID != "a" || !rep.Disabled[0].Revoked || rep.Left != 1 {
		t.Fatalf("round: %+v", rep)
	}
	if on := dst.guests["g-a"].Attrs["accountEnabled"]; on != false || !dst.revoked["g-a"] {
		t.Errorf("guest a: enabled=%v revoked=%v", on, dst.revoked["g-a"])
	}
	if on := dst.guests["g-b"].Attrs["accountEnabled"]; on != true || dst.revoked["g-b"] {
		t.Errorf("guest b (not ours) was touched: enabled=%v revoked=%v", on, dst.revoked["g-b"])
	}
	e, _, _ := p.Store.Get(ctx, p.PairName, "a")
	if e.State != guestmap.StateDisabled || e.GuestID != "g-a" {
		t.Errorf("entry a: %+v", e)
	}
	recs, _ := p.Store.Logs(ctx, guestmap.LogQuery{Pair: p.PairName, SourceID: "a"})
	if len(recs) != 1 || recs[0].Action != "disable" || recs[0].Result != "ok" || recs[0].Cycle != "fast-lane" {
		t.Errorf("log of a: %+v", recs)
	}
	// b failed (a conflict): the link stays, so the next round reads the
	// same changes again.
	if link, _ := p.Store.FastLink(ctx, p.PairName); link != "L" {
		t.Errorf("link committed past a user left undone: %q", link)
	}
	// Idle: one delta read, no store write (the link was committed moments
	// ago by lanePair's first round).
	before := src.deltas
	if rep := p.FastRound(ctx); rep.Err != nil || rep.Reported != 0 || len(rep.Disabled) != 0 || src.deltas != before+1 {
		t.Fatalf("idle round: %+v, %d delta reads", rep, src.deltas-before)
	}
}

// TestFastRoundScopeAndThreshold: a user leaving scope (reported with only
// what changed) is read by ID and its guest disabled; more disables than
// the deletion threshold are all left to the cycle.
func TestFastRoundScopeAndThreshold(t *testing.T) {
	ctx := context.Background()
	p, src, dst := lanePair(t, laneRules{actions: blocking, threshold: 1})
	src.users["c"] = fullUser("c", "Ops", true)
	src.rounds = [][]directory.User{{{ID: "c", Attrs: map[string]any{"department": "Ops"}}}}
	rep := p.FastRound(ctx)
	if rep.Err != nil || len(rep.Disabled) != 1 || rep.Disabled[0].SourceID != "c" {
		t.Fatalf("out of scope round: %+v", rep)
	}
	if dst.guests["g-c"].Attrs["accountEnabled"] != false {
		t.Error("guest c not disabled")
	}
	src.rounds = [][]directory.User{{{ID: "a", Removed: directory.HardDeleted}, {ID: "b", Removed: directory.HardDeleted}}}
	rep = p.FastRound(ctx)
	if rep.Err != nil || len(rep.Disabled) != 0 || rep.Left != 2 {
		t.Fatalf("over the threshold: %+v", rep)
	}
	for _, g := range []string{"g-a", "g-b"} {
		if dst.guests[g].Attrs["accountEnabled"] != true {
			t.Errorf("%s disabled over the threshold", g)
		}
	}
}

// TestFastRoundSharesTheCycleLease: while a cycle of the pair holds the
// lease in this process, a fast round runs under it (fenced by its token)
// instead of skipping; a cycle that starts while a fast round holds its
// own lease waits for it instead of skipping.
func TestFastRoundSharesTheCycleLease(t *testing.T) {
	ctx := context.Background()
	p, src, dst := lanePair(t, laneRules{actions: blocking})
	lease, err := p.acquireCycleLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	unshare := p.shareCycleLease(lctx, lease)
	src.users["a"] = fullUser("a", "Sales", false)
	src.rounds = [][]directory.User{{{ID: "a", Attrs: map[string]any{"accountEnabled": false}}}}
	rep := p.FastRound(ctx)
	if rep.Err != nil || !rep.Shared || len(rep.Disabled) != 1 {
		t.Fatalf("round beside a cycle: %+v", rep)
	}
	if dst.guests["g-a"].Attrs["accountEnabled"] != false {
		t.Error("guest a not disabled")
	}
	// The cycle's lease lost: the round's context ends with it.
	cancel()
	src.rounds = [][]directory.User{{{ID: "b", Removed: directory.HardDeleted}}}
	if rep := p.FastRound(ctx); rep.Err == nil || !errors.Is(rep.Err, context.Canceled) {
		t.Fatalf("round under a lost cycle lease: %+v", rep)
	}
	unshare()
	_ = lease.Release(ctx)

	// Another process holds the lease: skip.
	other, err := p.Store.Acquire(ctx, p.PairName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.FastRound(ctx); rep.Skipped == "" || rep.Err != nil {
		t.Fatalf("round with the lease held elsewhere: %+v", rep)
	}
	_ = other.Release(ctx)

	// A cycle waits at the gate for a fast round holding its own lease.
	p.lane.gate.Lock()
	got := make(chan error, 1)
	go func() {
		l, err := p.acquireCycleLease(ctx)
		if err == nil {
			p.shareCycleLease(ctx, l)()
			_ = l.Release(ctx)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("cycle took the lease past a fast round holding the gate: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.lane.gate.Unlock()
	if err := <-got; err != nil {
		t.Fatalf("cycle after the fast round: %v", err)
	}
}

// TestFastRoundRevokesWhatACycleDisabled: a cycle disabled the guest
// before the fast lane saw the change (a cycle revokes no sessions): the
// fast lane revokes its sessions, after the ownership check, and logs it.
func TestFastRoundRevokesWhatACycleDisabled(t *testing.T) {
	ctx := context.Background()
	p, src, dst := lanePair(t, laneRules{actions: blocking})
	l, err := p.Store.Acquire(ctx, p.PairName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := p.Store.Get(ctx, p.PairName, "c")
	e.State = guestmap.StateDisabled
	if err := p.Store.Apply(ctx, l, guestmap.Batch{Put: []guestmap.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	_ = l.Release(ctx)
	dst.guests["g-c"].Attrs["accountEnabled"] = false
	src.users["c"] = fullUser("c", "Sales", false)
	src.rounds = [][]directory.User{{{ID: "c", Attrs: map[string]any{"accountEnabled": false}}}}
	rep := p.FastRound(ctx)
	if rep.Err != nil || len(rep.Disabled) != 0 || !dst.revoked["g-c"] {
		t.Fatalf("round: %+v, revoked %v", rep, dst.revoked["g-c"])
	}
	recs, _ := p.Store.Logs(ctx, guestmap.LogQuery{Pair: p.PairName, SourceID: "c"})
	if len(recs) != 1 || recs[0].Action != "revoke-sessions" {
		t.Errorf("log of c: %+v", recs)
	}
}
