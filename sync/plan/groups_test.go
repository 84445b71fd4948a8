package plan

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanGroups(t *testing.T) {
	in := func(s GroupState) GroupState { s.InScope = true; return s }
	for _, tc := range []struct {
		name  string
		state GroupState
		opts  GroupOptions
		want  *GroupAction // nil: no action
	}{
		{"new group: create with every desired member",
			in(GroupState{SourceID: "g", DisplayName: "Eng", Description: "d", Desired: []string{"a", "b"}, Reason: "named"}), GroupOptions{},
			&GroupAction{Kind: GroupCreate, SourceID: "g", DisplayName: "Eng", Description: "d", Add: []string{"a", "b"}, Reason: "named"}},
		{"unchanged: nothing",
			in(GroupState{SourceID: "g", TargetID: "t", AttrHash: 1, StoredHash: 1, Desired: []string{"a"}, Managed: []string{"a"}, Reconcile: true}), GroupOptions{},
			nil},
		{"not reconciled: members not compared",
			in(GroupState{SourceID: "g", TargetID: "t", AttrHash: 1, StoredHash: 1, Desired: []string{"a", "b"}, Managed: []string{"a"}}), GroupOptions{},
			nil},
		{"renamed: update, members reconciled on the way",
			in(GroupState{SourceID: "g", TargetID: "t", DisplayName: "New", AttrHash: 2, StoredHash: 1, Desired: []string{"b"}, Managed: []string{"a"}, Reconcile: true}), GroupOptions{},
			&GroupAction{Kind: GroupUpdate, SourceID: "g", TargetID: "t", DisplayName: "New", Add: []string{"b"}, Remove: []string{"a"}, Reason: "attributes changed"}},
		{"managed mode: a member someone else added stays",
			in(GroupState{SourceID: "g", TargetID: "t", Desired: []string{"a", "c"}, Managed: []string{"a", "b"}, Actual: []string{"a", "b", "x"}, Reconcile: true}), GroupOptions{},
			&GroupAction{Kind: GroupMembers, SourceID: "g", TargetID: "t", Add: []string{"c"}, Remove: []string{"b"}, Reason: "members changed"}},
		{"exact mode: every other member goes",
			in(GroupState{SourceID: "g", TargetID: "t", Desired: []string{"a", "c"}, Managed: []string{"a", "b"}, Actual: []string{"a", "b", "x"}, Reconcile: true}), GroupOptions{Exact: true},
			&GroupAction{Kind: GroupMembers, SourceID: "g", TargetID: "t", Add: []string{"c"}, Remove: []string{"b", "x"}, Reason: "members changed"}},
		{"out of scope, delete on leave",
			GroupState{SourceID: "g", TargetID: "t", Reason: "not named", Managed: []string{"a"}}, GroupOptions{DeleteOnLeave: true},
			&GroupAction{Kind: GroupDelete, SourceID: "g", TargetID: "t", Reason: "out of scope: not named"}},
		{"deleted at the source, keep: release its members",
			GroupState{SourceID: "g", TargetID: "t", Gone: true, Managed: []string{"a", "b"}}, GroupOptions{},
			&GroupAction{Kind: GroupRelease, SourceID: "g", TargetID: "t", Remove: []string{"a", "b"}, Reason: `deleted at the source; kept (out_of_scope = "keep"), its synced members removed`}},
		{"gone with no target group: forget",
			GroupState{SourceID: "g", Gone: true}, GroupOptions{DeleteOnLeave: true},
			&GroupAction{Kind: GroupForget, SourceID: "g", Reason: "deleted at the source"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanGroups([]GroupState{tc.state}, tc.opts)
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no action", got)
				}
				return
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], *tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, *tc.want)
			}
		})
	}
}

func TestPlanGroupsThresholdHoldsEveryLeave(t *testing.T) {
	var states []GroupState
	for _, id := range []string{"a", "b", "c"} {
		states = append(states, GroupState{SourceID: id, TargetID: "t-" + id, Gone: true})
	}
	states = append(states, GroupState{SourceID: "d", InScope: true, DisplayName: "D"})
	got := PlanGroups(states, GroupOptions{DeleteOnLeave: true, Threshold: 2})
	kinds := map[string]GroupActionKind{}
	for _, a := range got {
		kinds[a.SourceID] = a.Kind
	}
	want := map[string]GroupActionKind{"a": GroupHeld, "b": GroupHeld, "c": GroupHeld, "d": GroupCreate}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("got %v, want %v", kinds, want)
	}
	if got := PlanGroups(states, GroupOptions{DeleteOnLeave: true, Threshold: 3}); got[0].Kind != GroupDelete {
		t.Fatalf("at the threshold: got %v, want deletes", got[0].Kind)
	}
}

func TestGroupActionManaged(t *testing.T) {
	a := GroupAction{Kind: GroupMembers, Add: []string{"c"}, Remove: []string{"a"}}
	if got := a.Managed([]string{"a", "b"}, false, nil); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Errorf("managed: got %v", got)
	}
	if got := a.Managed([]string{"a", "b"}, true, []string{"b", "c", "d"}); !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Errorf("exact: got %v", got)
	}
	if got := (GroupAction{Kind: GroupRelease}).Managed([]string{"a"}, false, nil); got != nil {
		t.Errorf("release: got %v", got)
	}
}

func TestDecideCreate(t *testing.T) {
	grace := 5 * time.Minute
	for _, tc := range []struct {
		found int
		ago   time.Duration
		want  CreateDecision
	}{
		{0, 0, CreateNew},
		{1, 0, CreateAdopt},
		{2, 0, CreateConflict},
		{0, time.Minute, CreateWait},
		{1, time.Minute, CreateAdopt},
		{0, 6 * time.Minute, CreateNew},
	} {
		if got := DecideCreate(tc.found, tc.ago, grace); got != tc.want {
			t.Errorf("DecideCreate(%d, %v) = %s, want %s", tc.found, tc.ago, got, tc.want)
		}
	}
}
