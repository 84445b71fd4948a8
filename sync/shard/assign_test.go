package shard

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// mesh returns the full mesh of n tenants: every tenant syncs into every
// other one.
func mesh(n int) []Pair {
	var ps []Pair
	for s := range n {
		for t := range n {
			if s != t {
				ps = append(ps, Pair{Name: fmt.Sprintf("t%d-to-t%d", s, t), Target: fmt.Sprintf("t%d", t)})
			}
		}
	}
	return ps
}

func names(ps []Pair) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func replicas(all []string, ids ...string) []Candidate {
	var cs []Candidate
	for _, id := range ids {
		cs = append(cs, Candidate{ID: id, Configured: all})
	}
	return cs
}

// loads counts pairs per replica and checks that every pair into one
// target is on one replica.
func loads(t *testing.T, pairs []Pair, a map[string]string) map[string]int {
	t.Helper()
	byTarget := map[string]string{}
	n := map[string]int{}
	for _, p := range pairs {
		r, ok := a[p.Name]
		if !ok {
			continue
		}
		if prev, seen := byTarget[p.Target]; seen && prev != r {
			t.Errorf("target %s is split between %s and %s", p.Target, prev, r)
		}
		byTarget[p.Target] = r
		n[r]++
	}
	return n
}

func TestAssign(t *testing.T) {
	m3, m4 := mesh(3), mesh(4)
	tests := []struct {
		name     string
		pairs    []Pair
		cands    []Candidate
		wantLoad []int // sorted loads per replica that got pairs
		unowned  int
	}{
		{"no replicas", m3, nil, nil, 6},
		{"one replica runs all", m3, replicas(names(m3), "a:1"), []int{6}, 0},
		{"three replicas, three targets: two pairs each", m3, replicas(names(m3), "a:1", "b:2", "c:3"), []int{2, 2, 2}, 0},
		{"two replicas, three targets: 4 and 2", m3, replicas(names(m3), "a:1", "b:2"), []int{2, 4}, 0},
		{"more replicas than targets: some idle", m3, replicas(names(m3), "a", "b", "c", "d", "e"), []int{2, 2, 2}, 0},
		{"four tenants, four replicas", m4, replicas(names(m4), "r1", "r2", "r3", "r4"), []int{3, 3, 3, 3}, 0},
		{"four tenants, two replicas", m4, replicas(names(m4), "r1", "r2"), []int{6, 6}, 0},
		{"a replica not configured for a target never gets it",
			m3, []Candidate{{ID: "a", Configured: names(m3)[:2]}, {ID: "b", Configured: names(m3)}}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Assign(tc.pairs, tc.cands)
			if got := len(tc.pairs) - len(a); got != tc.unowned {
				t.Errorf("%d pairs without a replica, want %d", got, tc.unowned)
			}
			for p, r := range a {
				i := slices.IndexFunc(tc.cands, func(c Candidate) bool { return c.ID == r })
				if i < 0 || !slices.Contains(tc.cands[i].Configured, p) {
					t.Errorf("pair %s went to %s, which is not configured for it", p, r)
				}
			}
			got := slices.Sorted(maps.Values(loads(t, tc.pairs, a)))
			if tc.wantLoad != nil && !slices.Equal(got, tc.wantLoad) {
				t.Errorf("loads %v, want %v (%v)", got, tc.wantLoad, a)
			}
		})
	}
}

// TestAssignAgrees: every replica computes the same assignment, whatever
// order it lists the pairs and replicas in.
func TestAssignAgrees(t *testing.T) {
	ps := mesh(4)
	cs := replicas(names(ps), "host-a:10", "host-b:11", "host-c:12")
	want := Assign(ps, cs)
	rev := slices.Clone(ps)
	slices.Reverse(rev)
	revc := slices.Clone(cs)
	slices.Reverse(revc)
	if got := Assign(rev, revc); !maps.Equal(got, want) {
		t.Errorf("order changed the assignment:\n%v\n%v", got, want)
	}
}

// claimed turns an assignment into candidates that claim their shares.
func claimed(all []string, a map[string]string, ids ...string) []Candidate {
	cs := replicas(all, ids...)
	for i := range cs {
		for p, r := range a {
			if r == cs[i].ID {
				cs[i].Claims = append(cs[i].Claims, p)
			}
		}
	}
	return cs
}

// TestAssignMovesLittle: an assignment fed back as claims is kept; a
// replica leaving moves only its own targets; a replica joining takes only
// what the others must shed.
func TestAssignMovesLittle(t *testing.T) {
	ps := mesh(6) // 6 targets of 5 pairs
	all := names(ps)
	ids := []string{"r1", "r2", "r3", "r4", "r5", "r6"}
	before := Assign(ps, replicas(all, ids...))
	if again := Assign(ps, claimed(all, before, ids...)); !maps.Equal(again, before) {
		t.Fatalf("not a fixed point:\n%v\n%v", before, again)
	}
	after := Assign(ps, claimed(all, before, ids[:5]...))
	for p, r := range before {
		if r != "r6" && after[p] != r {
			t.Errorf("pair %s moved from %s to %s when r6 left", p, r, after[p])
		}
		if r == "r6" && after[p] == "r6" {
			t.Errorf("pair %s stayed on r6, which left", p)
		}
	}
	// r7 joins a balanced 6-replica assignment: room stays one target, so
	// nothing moves and r7 waits for work.
	joined := Assign(ps, claimed(all, before, append(ids, "r7")...))
	if !maps.Equal(joined, before) {
		t.Errorf("a joining replica moved targets that had room:\n%v\n%v", before, joined)
	}
	// Three replicas on a 3-tenant mesh, from two: the replica with two
	// targets sheds one to the newcomer, and only that one moves.
	m3 := mesh(3)
	two := Assign(m3, replicas(names(m3), "a", "b"))
	three := Assign(m3, claimed(names(m3), two, "a", "b", "c"))
	if got := slices.Sorted(maps.Values(loads(t, m3, three))); !slices.Equal(got, []int{2, 2, 2}) {
		t.Errorf("after c joined: loads %v, want 2 each (%v)", got, three)
	}
	moved := 0
	for p := range two {
		if two[p] != three[p] {
			moved++
		}
	}
	if moved != 2 {
		t.Errorf("%d pairs moved when c joined, want 2 (one target)", moved)
	}
}

// TestAssignSettles: replicas that feed their shares back as claims,
// round after round, keep the same assignment, for meshes of 2 to 6
// tenants on 1 to 7 replicas, and after any one replica leaves.
func TestAssignSettles(t *testing.T) {
	for tenants := 2; tenants <= 6; tenants++ {
		ps := mesh(tenants)
		all := names(ps)
		for n := 1; n <= 7; n++ {
			var ids []string
			for i := range n {
				ids = append(ids, fmt.Sprintf("host:%d", 100+i))
			}
			a := Assign(ps, replicas(all, ids...))
			for leave := -1; leave < n; leave++ {
				live := slices.Clone(ids)
				if leave >= 0 {
					live = slices.Delete(live, leave, leave+1)
				}
				first := Assign(ps, claimed(all, a, live...))
				again := Assign(ps, claimed(all, first, live...))
				if !maps.Equal(first, again) {
					t.Errorf("%d tenants, %d replicas, replica %d left: the assignment flips:\n%v\n%v", tenants, n, leave, first, again)
				}
				for p, r := range a {
					if leave >= 0 && r != ids[leave] && first[p] != r {
						t.Errorf("%d tenants, %d replicas, %s left: pair %s moved from %s to %s", tenants, n, ids[leave], p, r, first[p])
					}
				}
			}
		}
	}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	start := now.Add(-time.Hour)
	grace := 3 * time.Minute
	tests := []struct {
		name  string
		owner string
		last  time.Time
		since time.Time
		run   bool
	}{
		{"own share", "me", now, start, true},
		{"own share, never run", "me", time.Time{}, start, true},
		{"nobody assigned", "", now, start, true},
		{"another's, run recently", "other", now.Add(-time.Minute), start, false},
		{"another's, idle past the grace", "other", now.Add(-4 * time.Minute), start, true},
		{"another's, never run, we just started", "other", time.Time{}, now.Add(-time.Second), false},
		{"another's, never run, watched past the grace", "other", time.Time{}, start, true},
		{"another's, last run before we started, grace counts from our start", "other", now.Add(-24 * time.Hour), now.Add(-time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, why := Decide(Turn{Pair: "p", Self: "me", Owner: tc.owner, LastRun: tc.last, Since: tc.since, Now: now, Grace: grace})
			if run != tc.run || why == "" {
				t.Errorf("Decide = %v (%q), want %v", run, why, tc.run)
			}
		})
	}
}
