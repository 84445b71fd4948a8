package plan

import (
	"fmt"
	"slices"
	"time"
)

// Group sync decisions. The worker merges a groups delta round into what
// the store knows of each tracked source group, works out each in-scope
// group's desired members (the guests this pair synced for the group's
// members), and asks PlanGroups what to do; the same function serves a
// real cycle and `ctsync plan`.
//
//	source group                target group       action
//	in scope                    none               create (adopt when a group carries its stamp), add every desired member
//	in scope, attributes moved  exists             update, members reconciled
//	in scope, members moved     exists             add / remove members (managed: only ctsync's own; exact: every other)
//	gone or out of scope        exists             delete (out_of_scope = "delete") or release: remove ctsync's members, stop tracking ("keep")
//	gone or out of scope        none               forget
//	deletes above the pair's deletion threshold    held: nothing deleted, reported

// GroupActionKind is what the group step does to one target group.
type GroupActionKind string

const (
	GroupCreate  GroupActionKind = "group-create"
	GroupUpdate  GroupActionKind = "group-update"
	GroupMembers GroupActionKind = "group-members"
	GroupDelete  GroupActionKind = "group-delete"
	// GroupRelease leaves the target group in place, removes the members
	// ctsync added and stops tracking it (out_of_scope = "keep").
	GroupRelease GroupActionKind = "group-release"
	// GroupForget drops the record of a group that has no target group.
	GroupForget GroupActionKind = "group-forget"
	// GroupHeld is a delete or release held back by the deletion threshold.
	GroupHeld GroupActionKind = "group-held"
)

// GroupState is one tracked source group as the group step sees it.
type GroupState struct {
	SourceID string
	// Gone: deleted at the source.
	Gone bool
	// InScope and Reason are the pair's scope decision.
	InScope bool
	Reason  string
	// DisplayName, Description and AttrHash are the desired target
	// attributes (mapped) and their hash; StoredHash the hash last written.
	DisplayName, Description string
	AttrHash, StoredHash     uint64
	// TargetID is the target group, "" when none is known.
	TargetID string
	// Desired are the guest IDs that should be members, Managed those
	// ctsync added, Actual the target's members as read (exact mode only,
	// for groups being reconciled; nil otherwise). All sorted.
	Desired, Managed, Actual []string
	// Reconcile: the membership may have moved (the group or a nested one
	// changed, a member's guest arrived or left): compare Desired.
	Reconcile bool
}

// GroupAction is one group's change.
type GroupAction struct {
	Kind     GroupActionKind `json:"kind"`
	SourceID string          `json:"source"`
	TargetID string          `json:"target,omitempty"`
	// DisplayName and Description are set for creates and updates.
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
	// Add and Remove are member (guest) IDs, sorted.
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	Reason string   `json:"reason"`
}

// String is the action as `ctsync plan` prints it.
func (a GroupAction) String() string {
	s := fmt.Sprintf("%s %s", a.Kind, a.SourceID)
	if a.DisplayName != "" {
		s += fmt.Sprintf(" %q", a.DisplayName)
	}
	if len(a.Add)+len(a.Remove) > 0 {
		s += fmt.Sprintf(" (+%d -%d members)", len(a.Add), len(a.Remove))
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// GroupOptions are the pair's group settings that decide.
type GroupOptions struct {
	// Exact: members ctsync did not add are removed too.
	Exact bool
	// DeleteOnLeave deletes the target group of a group that is gone or
	// out of scope; false releases it.
	DeleteOnLeave bool
	// Threshold is the pair's deletion threshold (0: none): more deletes
	// and releases than this in one cycle are all held.
	Threshold int
}

// PlanGroups decides every tracked group's action, in SourceID order.
// Groups with nothing to do get no action.
func PlanGroups(states []GroupState, o GroupOptions) []GroupAction {
	var out []GroupAction
	leaving := 0
	for _, s := range states {
		if (s.Gone || !s.InScope) && s.TargetID != "" {
			leaving++
		}
	}
	hold := o.Threshold > 0 && leaving > o.Threshold
	for _, s := range states {
		if a, ok := planGroup(s, o, hold, leaving); ok {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b GroupAction) int {
		if a.SourceID < b.SourceID {
			return -1
		}
		if a.SourceID > b.SourceID {
			return 1
		}
		return 0
	})
	return out
}

func planGroup(s GroupState, o GroupOptions, hold bool, leaving int) (GroupAction, bool) {
	a := GroupAction{SourceID: s.SourceID, TargetID: s.TargetID}
	if s.Gone || !s.InScope {
		why := "deleted at the source"
		if !s.Gone {
			why = "out of scope: " + s.Reason
		}
		switch {
		case s.TargetID == "":
			a.Kind, a.Reason = GroupForget, why
		case hold:
			a.Kind = GroupHeld
			a.Reason = fmt.Sprintf("%s; held: %d groups leave this cycle, above the deletion threshold of %d", why, leaving, o.Threshold)
		case o.DeleteOnLeave:
			a.Kind, a.Reason = GroupDelete, why
		default:
			a.Kind, a.Reason, a.Remove = GroupRelease, why+"; kept (out_of_scope = \"keep\"), its synced members removed", s.Managed
		}
		return a, true
	}
	if s.TargetID == "" {
		a.Kind, a.DisplayName, a.Description, a.Add = GroupCreate, s.DisplayName, s.Description, s.Desired
		a.Reason = s.Reason
		return a, true
	}
	if s.Reconcile {
		a.Add, a.Remove = memberDiff(s, o.Exact)
	}
	if s.AttrHash != s.StoredHash {
		a.Kind, a.DisplayName, a.Description, a.Reason = GroupUpdate, s.DisplayName, s.Description, "attributes changed"
		return a, true
	}
	if len(a.Add)+len(a.Remove) > 0 {
		a.Kind, a.Reason = GroupMembers, "members changed"
		return a, true
	}
	return a, false
}

// memberDiff returns the members to add and remove. Managed mode compares
// with the members ctsync added: a member someone else added is never
// removed. Exact mode compares with the target's actual members (when read;
// else with the managed ones).
func memberDiff(s GroupState, exact bool) (add, remove []string) {
	have := s.Managed
	if exact && s.Actual != nil {
		have = s.Actual
	}
	return minus(s.Desired, have), minus(have, s.Desired)
}

// minus returns the sorted a without the elements of sorted b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}

// Managed returns the members ctsync manages after a group action was
// applied in full: in exact mode every desired member, else the managed
// ones plus those added, without those removed.
func (a GroupAction) Managed(before []string, exact bool, desired []string) []string {
	switch a.Kind {
	case GroupDelete, GroupRelease, GroupForget:
		return nil
	case GroupHeld:
		return before
	}
	if exact {
		return slices.Clone(desired)
	}
	out := minus(before, a.Remove)
	out = append(out, a.Add...)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateDecision is what to do for a group whose target group is unknown:
// the stamp search found found groups carrying the group's stamp, and
// markedAgo is how long ago an earlier create was marked (0: none).
type CreateDecision string

const (
	CreateNew   CreateDecision = "create"
	CreateAdopt CreateDecision = "adopt"
	// CreateWait: an earlier create was marked and its group may be too new
	// for the search's lagging index; wait for the next cycle.
	CreateWait CreateDecision = "wait"
	// CreateConflict: several target groups carry the stamp.
	CreateConflict CreateDecision = "conflict"
)

// DecideCreate decides a group's create after its stamp search. A group
// created by an interrupted earlier attempt carries its stamp from the
// first moment (the stamp is its mailNickname, sent in the create), but the
// search reads Graph's lagging index: within grace of the mark an empty
// answer proves nothing.
func DecideCreate(found int, markedAgo, grace time.Duration) CreateDecision {
	switch {
	case found == 1:
		return CreateAdopt
	case found > 1:
		return CreateConflict
	case markedAgo > 0 && markedAgo < grace:
		return CreateWait
	}
	return CreateNew
}
