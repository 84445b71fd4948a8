package worker

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// TestScopeGroupsTracked: the user scope's groups share the groups state
// with group sync: tracked (with what they nest, transitive), never in
// group sync's scope, kept when group sync forgets them.
func TestScopeGroupsTracked(t *testing.T) {
	ctx := context.Background()
	const (
		other  = "e0000000-0000-4000-8000-000000000009"
		leaves = "e0000000-0000-4000-8000-00000000000a"
	)
	src := &provSource{reads: map[string]int{}, members: map[string][]directory.Member{
		salesGroup: {{ID: "u5", Kind: directory.MemberUser}, {ID: platformGroup, Kind: directory.MemberGroup}},
	}}
	gs := &GroupSync{Source: src, Rules: provRules{names: []string{"Engineering"}}}
	s := &groupStep{gs: gs, roots: []string{salesGroup}, rootsTransitive: true,
		put: map[string]bool{}, gone: map[string]bool{}, dirty: map[string]bool{}, stored: map[string]bool{},
		entries: map[string]*guestmap.GroupEntry{
			engGroup:      {SourceID: engGroup, Name: "Engineering", Users: []string{"u1"}, MembersKnown: true, InScope: true},
			platformGroup: {SourceID: platformGroup, Name: "Platform", Users: []string{"u3", "u4"}, MembersKnown: true},
			other:         {SourceID: other, Name: "Other", MembersKnown: true},
			leaves:        {SourceID: leaves, Name: "Leaves", MembersKnown: true, TargetID: "t-leaves"},
		}}
	s.stored[other], s.stored[leaves] = true, true
	if _, complete := s.scopeMembers(); complete {
		t.Error("scope members complete without an entry for the scope's group")
	}
	if err := s.track(ctx); err != nil {
		t.Fatal(err)
	}
	if src.reads[salesGroup] != 1 || len(src.reads) != 1 {
		t.Errorf("member reads %v, want the scope's new group's only", src.reads)
	}
	if got := slices.Sorted(maps.Keys(s.entries)); !slices.Equal(got, []string{engGroup, platformGroup, salesGroup, leaves}) {
		t.Errorf("tracked %v, want Engineering, Platform, Sales and the group leaving scope", got)
	}
	if s.entries[salesGroup].InScope || s.entries[platformGroup].InScope {
		t.Error("a group tracked for the user scope is in group sync's scope")
	}
	if !slices.Equal(s.drop, []string{other}) {
		t.Errorf("dropped %v, want the untracked group", s.drop)
	}
	members, complete := s.scopeMembers()
	if !complete || !slices.Equal(slices.Sorted(maps.Keys(members)), []string{"u3", "u4", "u5"}) {
		t.Errorf("scope members %v (complete %v), want u3 u4 u5 through Platform", members, complete)
	}
	// Group sync forgets a group the user scope tracks: it stays, without a target group.
	s.entries[salesGroup].TargetID = "t-sales"
	s.forget(salesGroup)
	if e := s.entries[salesGroup]; e == nil || e.TargetID != "" || !e.MembersKnown {
		t.Errorf("forgotten scope group: %+v", e)
	}
	// A scope group deleted at the source has no members.
	s.gone[salesGroup] = true
	if err := s.track(ctx); err != nil {
		t.Fatal(err)
	}
	if members, complete := s.scopeMembers(); !complete || len(members) != 0 || s.entries[salesGroup] == nil {
		t.Errorf("deleted scope group: members %v complete %v entry %v", members, complete, s.entries[salesGroup])
	}
}
