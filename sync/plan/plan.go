// Package plan decides, without any I/O, what one cycle of a pair must do:
// from the source users read this cycle, what the map knows of them and the
// pair's policy, it computes Changes (create, update, disable, soft-delete,
// hard-delete, restore, stage, skip), each with the reason an admin reads in
// `ctsync plan` and the provisioning log.
//
// The plan is level based: the same inputs give the same plan, and a pair
// whose guests already match the source gives an empty one. `ctsync plan`
// and a real cycle run the very same code; only the apply step differs.
//
// Worked cases (entry = what the map knows; event/action per the policy):
//
//	source user                    entry            change
//	in scope, enabled              none             create (adopt decided when applied)
//	in scope, enabled              active, same     nothing (unchanged)
//	in scope, enabled              active, changed  update (only changed properties)
//	in scope, enabled              disabled         update accountEnabled=true
//	in scope, enabled              soft-deleted     restore (+ update)
//	in scope, disabled             none             skip: not created while disabled
//	in scope, disabled             active           action(disabled), default disable
//	out of scope                   none             nothing
//	out of scope                   active/disabled  action(out_of_scope), default soft-delete
//	removed (soft-deleted)         active/disabled  action(soft_deleted), default soft-delete
//	removed (hard-deleted)         any but gone     action(hard_deleted), default soft-delete
//	mapping fails on the user's data any            park (retried later), reported
//	two in-scope users, one mail   any              skip both, reported
//	destructive changes > threshold                  stage them for an admin
package plan

import (
	"fmt"
	"sort"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// Action is what a change does to the target. It is policy's Action: the
// lifecycle actions a policy answers for an event are the plan's own, one
// vocabulary from the configuration to the provisioning log.
type Action = policy.Action

// Actions. The lifecycle actions (None, Disable, SoftDelete, HardDelete,
// Restore) are policy's; the others exist only in plans.
const (
	None       = policy.None
	Disable    = policy.Disable
	SoftDelete = policy.SoftDelete
	HardDelete = policy.HardDelete
	Restore    = policy.Restore

	Create Action = "create"
	Adopt  Action = "adopt"
	Update Action = "update"
	Stage  Action = "stage"
	Skip   Action = "skip"
	// Park: the user's data cannot be mapped; the worker parks and reports
	// the user and retries it later, the others go on.
	Park Action = "park"
)

// Policy is what a plan needs of a pair's compiled policy. The worker
// adapts *policy.Pair to it (resolving group membership for scope).
type Policy interface {
	// InScope decides whether u is in the pair's scope and says why.
	InScope(u directory.User) (in bool, reason string)
	// Desired is the guest's attributes for u; creating adds the
	// create-only mappings. "manager" holds the source manager's ID.
	Desired(u directory.User, creating bool) (map[string]any, error)
	// Action is the lifecycle action for an event.
	Action(e policy.Event) Action
	// DeletionThreshold is the number of destructive changes per cycle above
	// which they are staged; 0 means no limit.
	DeletionThreshold() int
}

// State is the lifecycle state the map records for a guest.
type State string

// States, as guestmap stores them.
const (
	Active      State = "active"
	StateOff    State = "disabled"
	StateGone   State = "soft-deleted"
	StateStaged State = "staged"
	Parked      State = "parked"
)

// Known is what the map knows of one source user.
type Known struct {
	GuestID string
	State   State
	// Hash is the hash of the attributes last written (see Hash).
	Hash uint64
	// ManagerSourceID is the source manager last set on the guest.
	ManagerSourceID string
	// ManagerPending: ManagerSourceID had no guest when the guest was
	// written, so the reference is not written yet.
	ManagerPending bool
}

// Input is everything a plan is computed from.
type Input struct {
	Policy Policy
	// Users are the source users read this cycle (delta changes, a full
	// read, or users due for a retry). Later duplicates of an ID win, as
	// delta rounds can replay.
	Users []directory.User
	// Known holds the map entries of Users, by source ID.
	Known map[string]Known
	// Gone are mapped source IDs that a complete full read did not return
	// and the worker confirmed gone; they are planned as hard-deleted.
	Gone []string
	// ManagerGuest translates a source manager ID into its guest ID.
	ManagerGuest func(sourceID string) (guestID string, ok bool)
	// Staged holds the actions staged in earlier cycles, by source ID, with
	// any admin decision on them.
	Staged map[string]Staged
	// Duplicates, when not nil, are the in-scope users sharing a mail
	// (source ID -> reason), found by the caller across more users than
	// Users: a cycle plans its read in chunks, and two users sharing a
	// mail may sit in different chunks. Nil: they are found among Users.
	Duplicates map[string]string
}

// Verdict is an admin's word on a staged action.
type Verdict string

// Verdicts; the zero Verdict means the admin has not decided yet.
const (
	Pending  Verdict = ""
	Approved Verdict = "approved"
	Rejected Verdict = "rejected"
)

// Staged is an action held over the deletion threshold in an earlier
// cycle, and what an admin decided of it.
type Staged struct {
	Action  Action
	Verdict Verdict
	By      string
	// GuestID is the guest the action is about: for an Adopt, the
	// unstamped guest an admin is asked to let ctsync take over.
	GuestID string
}

// Change is one planned change to one guest.
type Change struct {
	Action   Action `json:"action"`
	SourceID string `json:"sourceId"`
	// Who names the source user for people: UPN or mail.
	Who     string `json:"who,omitempty"`
	GuestID string `json:"guestId,omitempty"`
	// Set are the properties to write: all desired ones for a create, the
	// ones that differ for an update (see Narrow).
	Set map[string]any `json:"set,omitempty"`
	// Old holds the previous values of Set's properties where known.
	Old map[string]any `json:"old,omitempty"`
	// Hash is the hash of the always-applied desired attributes to record
	// once the change is applied.
	Hash uint64 `json:"-"`
	// ManagerSourceID is the desired manager in source terms ("" none).
	ManagerSourceID string `json:"managerSourceId,omitempty"`
	// ManagerPending is set when the manager has no guest yet; the worker
	// sets the manager once it has.
	ManagerPending bool `json:"managerPending,omitempty"`
	// Event is the lifecycle event behind a lifecycle change.
	Event policy.Event `json:"event,omitempty"`
	// Staged is the held-back action of a Stage change.
	Staged Action `json:"staged,omitempty"`
	Reason string `json:"reason"`
	// User is the source user the change is about (for invitations).
	User directory.User `json:"-"`
	// Rejected marks a Skip of a staged action an admin rejected: the
	// worker drops the staged record and keeps the guest as it is.
	Rejected bool `json:"rejected,omitempty"`
	// AdoptGuest, on a Create, is the unstamped guest an admin approved
	// adopting (a staged Adopt): the create step adopts it if it finds it.
	AdoptGuest string `json:"adoptGuest,omitempty"`
	// NeedsDiff marks an update whose Set is still the whole desired set:
	// Narrow it with the guest's current attributes before applying.
	NeedsDiff bool `json:"-"`
}

// Plan is one cycle's changes, in a stable order.
type Plan struct {
	Changes []Change `json:"changes"`
	// Unchanged counts users in scope whose guest already matches.
	Unchanged int `json:"unchanged"`
	// OutOfScope counts users read but not in scope and not mapped.
	OutOfScope int `json:"outOfScope"`
	// Notes are what a reader of the plan must know that its changes do
	// not show (a dry run's limits); set by a dry run.
	Notes []string `json:"notes,omitempty"`
	// Digest identifies the plan's writes (see Digest); set by a dry run
	// (worker.Pair.Plan) from the plan as computed, before the read-only
	// resolution it shows.
	Digest string `json:"digest,omitempty"`
	// Groups are the group step's actions (pairs with [pair.groups]),
	// planned against the map as it is: members whose guests the user
	// changes above would create are added by the cycle that creates them,
	// not counted here. They are not part of the Digest: a reviewed plan
	// covers the users.
	Groups []GroupAction `json:"groups,omitempty"`
}

// Counts returns the number of changes per action, plus "unchanged".
func (p *Plan) Counts() map[string]int {
	c := map[string]int{}
	for _, ch := range p.Changes {
		c[string(ch.Action)]++
	}
	if p.Unchanged > 0 {
		c["unchanged"] = p.Unchanged
	}
	return c
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Compute plans a cycle. Per-user evaluation errors (a mapping that fails
// for one user's data) become Skip changes carrying the error, so one bad
// record never blocks the others; the worker parks them.
//
// Compute is Draft then Settle. A cycle too large to plan at once drafts
// its users chunk by chunk (Input.Duplicates found across all of them),
// settles each chunk's other changes at once, and keeps the destructive
// ones (Split) to settle together at the end: the deletion threshold is
// about the whole cycle.
func Compute(in Input) *Plan {
	p := Draft(in)
	p.Settle(in.Policy.DeletionThreshold(), in.Staged)
	return p
}

// Draft plans each user of in on its own: the changes before the deletion
// threshold and the admins' decisions on staged actions (see Settle), in
// the order of in.Users.
func Draft(in Input) *Plan {
	p := &Plan{}
	users := dedupe(in.Users)
	dups := in.Duplicates
	if dups == nil {
		dups = duplicateMails(in.Policy, users)
	}
	for _, u := range users {
		k, known := in.Known[u.ID]
		if reason, dup := dups[u.ID]; dup {
			p.add(Change{Action: Skip, SourceID: u.ID, Who: who(u), GuestID: k.GuestID, Reason: reason, User: u})
			continue
		}
		planUser(p, in, u, k, known)
	}
	for _, id := range in.Gone {
		k, known := in.Known[id]
		if !known {
			continue
		}
		u := directory.User{ID: id, Removed: directory.HardDeleted}
		lifecycle(p, in, u, k, policy.HardDeleted, "the source user is gone: a full read no longer returns it")
	}
	return p
}

// Settle holds the destructive changes for an admin when there are more
// than threshold of them (0: no limit), applies the admins' decisions on
// staged actions, and sorts the changes in the order they are applied.
func (p *Plan) Settle(threshold int, staged map[string]Staged) {
	stageOverThreshold(p, threshold)
	applyDecisions(p, staged)
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.Action != b.Action {
			return actionOrder[a.Action] < actionOrder[b.Action]
		}
		return a.SourceID < b.SourceID
	})
}

// Split moves the destructive changes (disable, soft or hard delete) of a
// draft out of p into the plan it returns, so that p can be settled and
// applied at once while those wait for the rest of the cycle: the deletion
// threshold counts them across the whole cycle.
func (p *Plan) Split() (destructive *Plan) {
	destructive = &Plan{}
	kept := p.Changes[:0]
	for _, c := range p.Changes {
		if c.Action.Destructive() {
			destructive.Changes = append(destructive.Changes, c)
		} else {
			kept = append(kept, c)
		}
	}
	p.Changes = kept
	return destructive
}

// Merge adds q's changes and counts to p.
func (p *Plan) Merge(q *Plan) {
	p.Changes = append(p.Changes, q.Changes...)
	p.Unchanged += q.Unchanged
	p.OutOfScope += q.OutOfScope
	p.Notes = append(p.Notes, q.Notes...)
}

// actionOrder applies restores and creates before updates (so managers
// exist), and destructive actions last.
var actionOrder = map[Action]int{Restore: 0, Create: 1, Adopt: 1, Update: 2, Skip: 3, Park: 3, Disable: 4, SoftDelete: 5, HardDelete: 6, Stage: 7}

func (p *Plan) add(c Change) { p.Changes = append(p.Changes, c) }

func planUser(p *Plan, in Input, u directory.User, k Known, known bool) {
	switch u.Removed {
	case directory.SoftDeleted:
		lifecycle(p, in, u, k, policy.SoftDeleted, "the source user was deleted (restorable)")
		return
	case directory.HardDeleted:
		lifecycle(p, in, u, k, policy.HardDeleted, "the source user was permanently deleted")
		return
	}
	in2, why := in.Policy.InScope(u)
	if !in2 {
		if known && k.State != StateGone {
			lifecycle(p, in, u, k, policy.OutOfScope, "out of scope: "+why)
		} else {
			p.OutOfScope++
		}
		return
	}
	if !u.Enabled() {
		switch {
		case !known || k.GuestID == "":
			p.add(Change{Action: Skip, SourceID: u.ID, Who: who(u), Reason: "source account is disabled: no guest is created for it", User: u})
		case k.State == Active || k.State == Parked || k.State == StateStaged:
			lifecycle(p, in, u, k, policy.Disabled, "the source account is disabled")
		default:
			p.Unchanged++
		}
		return
	}
	creating := !known || k.GuestID == ""
	desired, err := in.Policy.Desired(u, creating)
	if err != nil {
		p.add(Change{Action: Park, SourceID: u.ID, Who: who(u), GuestID: k.GuestID, Reason: "mapping failed: " + err.Error(), User: u})
		return
	}
	c := Change{SourceID: u.ID, Who: who(u), GuestID: k.GuestID, User: u}
	c.Set, c.ManagerSourceID, c.ManagerPending = resolveManager(desired, in.ManagerGuest)
	c.Hash = Hash(c.Set, c.ManagerSourceID)
	if creating {
		// The hash recorded is the one later cycles compare with: of the
		// always-applied attributes only. With the create-only ones in
		// it, every later full read would plan each created user as an
		// update (a Graph read each, for nothing).
		if always, err := in.Policy.Desired(u, false); err == nil {
			c.Hash = Hash(always, c.ManagerSourceID)
		}
	}
	if c.ManagerPending && known && k.State == Parked && k.GuestID != "" {
		// A retry of a parked user whose manager has no guest: the guest
		// must have none either (it may still point at a manager that
		// left, if clearing it failed). Set once the manager arrives.
		c.Set[directory.PropManager] = nil
	}
	switch {
	case creating:
		c.Action, c.Reason = Create, "in scope ("+why+") and not yet in the target"
	case k.State == StateGone:
		if in.Policy.Action(policy.Restored) == None {
			p.Unchanged++
			return
		}
		c.Action, c.Reason = Restore, "back in scope and enabled: the guest is restored"
		c.NeedsDiff = true
	case k.Hash != c.Hash || k.State == Parked || k.State == StateOff || k.State == StateStaged || managerDue(k, c):
		c.Action, c.Reason, c.NeedsDiff = Update, updateReason(k, c), true
		if k.ManagerSourceID == c.ManagerSourceID && !c.ManagerPending && !k.ManagerPending {
			// The manager is set already; don't rewrite the reference.
			delete(c.Set, directory.PropManager)
		}
	default:
		p.Unchanged++
		return
	}
	p.add(c)
}

// managerDue reports whether the guest's manager reference was left
// unwritten for a manager that now has a guest: the cycle the manager
// arrived in was cut short (a crash, a lost lease) before it wrote it.
// The attribute hash cannot tell (it holds the manager's source ID either
// way), so the entry says so itself.
func managerDue(k Known, c Change) bool {
	return k.ManagerPending && !c.ManagerPending && c.ManagerSourceID != ""
}

func updateReason(k Known, c Change) string {
	if k.Hash == c.Hash && managerDue(k, c) {
		return "the manager has a guest now: setting the manager reference"
	}
	switch k.State {
	case Parked:
		return "retrying after a failure"
	case StateOff:
		return "the source account is enabled again"
	case StateStaged:
		return "the user no longer needs the staged action"
	}
	return "source attributes changed"
}

// lifecycle plans the action the policy gives for an event on a mapped user.
func lifecycle(p *Plan, in Input, u directory.User, k Known, ev policy.Event, reason string) {
	if k.GuestID == "" {
		return // nothing in the target to act on
	}
	a := in.Policy.Action(ev)
	done := a == None ||
		(a == Disable && k.State == StateOff) ||
		(a == SoftDelete && k.State == StateGone)
	if done {
		p.Unchanged++
		return
	}
	p.add(Change{Action: a, Event: ev, SourceID: u.ID, Who: who(u), GuestID: k.GuestID, Reason: fmt.Sprintf("%s; policy %s: %s", reason, ev, a), User: u})
}

// resolveManager replaces the desired source manager ID by its guest ID.
func resolveManager(desired map[string]any, guestOf func(string) (string, bool)) (set map[string]any, managerSource string, pending bool) {
	set = desired
	m, ok := desired[directory.PropManager]
	if !ok {
		return set, "", false
	}
	src, _ := m.(string)
	if src == "" {
		set[directory.PropManager] = nil
		return set, "", false
	}
	if guestOf != nil {
		if gid, ok := guestOf(src); ok {
			set[directory.PropManager] = gid
			return set, src, false
		}
	}
	delete(set, directory.PropManager)
	return set, src, true
}

// stageOverThreshold turns every destructive change into a staged one when
// there are more of them than the threshold allows.
func stageOverThreshold(p *Plan, threshold int) {
	n := 0
	for _, c := range p.Changes {
		if c.Action.Destructive() {
			n++
		}
	}
	if threshold <= 0 || n <= threshold {
		return
	}
	for i, c := range p.Changes {
		if c.Action.Destructive() {
			p.Changes[i].Staged = c.Action
			p.Changes[i].Action = Stage
			p.Changes[i].Reason = fmt.Sprintf("%s (held: %d deletes and disables this cycle exceed the threshold of %d; approve with ctsync approve)", c.Reason, n, threshold)
		}
	}
}

// adoptDecision applies an admin's word to the create of a user whose
// create found an unstamped guest with its mail and asked (a staged
// Adopt): approved, the create adopts that guest; rejected, the user is
// skipped and stays listed as rejected; pending, it waits. It reports
// whether the change stays in the plan.
func adoptDecision(p *Plan, ch *Change, s Staged) bool {
	switch s.Verdict {
	case Approved:
		ch.AdoptGuest = s.GuestID
		ch.Reason += fmt.Sprintf(" (adopting guest %s: approved by %s)", s.GuestID, s.By)
		return true
	case Rejected:
		ch.Action = Skip
		ch.Reason = fmt.Sprintf("adopting guest %s was rejected by %s: the user is not synced while that guest has its mail", s.GuestID, s.By)
		return true
	}
	p.Unchanged++ // asked already, still waiting for an admin
	return false
}

// dedupe keeps the last record of each ID, in first-seen order.
func dedupe(users []directory.User) []directory.User {
	idx := make(map[string]int, len(users))
	out := make([]directory.User, 0, len(users))
	for _, u := range users {
		if i, ok := idx[u.ID]; ok {
			out[i] = u
			continue
		}
		idx[u.ID] = len(out)
		out = append(out, u)
	}
	return out
}

// duplicateMails finds in-scope users sharing a mail and returns the
// reason to skip each. Entra silently links both to one guest; ctsync
// syncs neither and says why.
func duplicateMails(pol Policy, users []directory.User) map[string]string {
	var inScope []directory.User
	for _, u := range users {
		if u.Removed != directory.NotRemoved {
			continue
		}
		if in, _ := pol.InScope(u); in {
			inScope = append(inScope, u)
		}
	}
	out := map[string]string{}
	for _, d := range policy.DuplicateMails(inScope, func(u directory.User) string { return u.ID }) {
		for _, id := range d.IDs {
			out[id] = "duplicate mail: " + d.Reason
		}
	}
	return out
}

func who(u directory.User) string {
	if s := u.Str(directory.PropUPN); s != "" {
		return s
	}
	if s := u.Str(directory.PropMail); s != "" {
		return s
	}
	return u.ID
}

// applyDecisions applies the admins' decisions on staged actions: an
// approved one is done (even over the threshold), a rejected one is settled
// (Skip with Rejected: the guest stays as it is and the staged record
// goes), and one still pending stays staged, counted as unchanged when the
// same action is staged already.
//
//	planned now            staged before, verdict   change
//	stage(A) or A          A or other, approved     A (approved by ...)
//	stage(A) or A          any, rejected            skip, rejected
//	stage(A) or A          A, pending               nothing (still waiting)
//	stage(A) or A          B, pending               stage(A)
//	anything else          any                      unchanged
func applyDecisions(p *Plan, staged map[string]Staged) {
	if len(staged) == 0 {
		return
	}
	kept := p.Changes[:0]
	for _, ch := range p.Changes {
		s, ok := staged[ch.SourceID]
		if ok && ch.Action == Create && s.Action == Adopt {
			if adoptDecision(p, &ch, s) {
				kept = append(kept, ch)
			}
			continue
		}
		if ok && (ch.Action == Stage || ch.Action.Destructive()) {
			switch s.Verdict {
			case Approved:
				if ch.Action == Stage {
					ch.Action = ch.Staged
				}
				ch.Reason += fmt.Sprintf(" (approved by %s)", s.By)
			case Rejected:
				if ch.Action != Stage {
					ch.Staged = ch.Action
				}
				ch.Action = Skip
				ch.Reason = fmt.Sprintf("%s was rejected by %s; the guest is left as it is", ch.Staged, s.By)
				ch.Rejected = true
			default:
				if ch.Action != Stage {
					ch.Staged, ch.Action = ch.Action, Stage
				}
				if ch.Staged == s.Action {
					p.Unchanged++ // staged already, still waiting for an admin
					continue
				}
			}
		}
		kept = append(kept, ch)
	}
	p.Changes = kept
}
