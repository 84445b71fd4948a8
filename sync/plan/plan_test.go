package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// rules is a small Policy: in scope unless department is "Sales"; desired
// attributes are displayName, department and manager; Entra's default
// lifecycle unless overridden.
type rules struct {
	actions   map[policy.Event]Action
	threshold int
}

func (r rules) InScope(u directory.User) (bool, string) {
	if u.Str("department") == "Sales" {
		return false, `department "Sales" does not match REGEX "^Eng"`
	}
	return true, "all members"
}

func (r rules) Desired(u directory.User, creating bool) (map[string]any, error) {
	if u.Str("displayName") == "BAD" {
		return nil, errors.New("Left: length must be a number")
	}
	d := map[string]any{"displayName": u.Str("displayName"), "department": u.Str("department")}
	if m, ok := u.Attrs["manager"]; ok {
		d["manager"] = m
	}
	if creating {
		d["userType"] = "Member"
	}
	return d, nil
}

func (r rules) Action(e policy.Event) Action {
	if a, ok := r.actions[e]; ok {
		return a
	}
	switch e {
	case policy.Disabled:
		return Disable
	case policy.Restored:
		return Restore
	}
	return SoftDelete
}

func (r rules) DeletionThreshold() int { return r.threshold }

func user(id, name, dept string, enabled bool) directory.User {
	return directory.User{ID: id, Attrs: map[string]any{
		"displayName": name, "department": dept, "accountEnabled": enabled,
		"userPrincipalName": strings.ToLower(name) + "@contoso.example", "mail": strings.ToLower(name) + "@contoso.example",
	}}
}

// known returns an entry whose hash matches u's current desired attributes.
func known(t *testing.T, u directory.User, state State) Known {
	t.Helper()
	d, _ := rules{}.Desired(u, false)
	set, mgr, _ := resolveManager(d, nil)
	return Known{GuestID: "g-" + u.ID, State: state, Hash: Hash(set, mgr)}
}

func only(t *testing.T, p *Plan) Change {
	t.Helper()
	if len(p.Changes) != 1 {
		t.Fatalf("want one change, got %+v", p.Changes)
	}
	return p.Changes[0]
}

func TestWorkedCases(t *testing.T) {
	ann := user("1", "Ann", "Eng", true)
	moved := user("1", "Ann", "Research", true)
	disabled := user("1", "Ann", "Eng", false)
	sales := user("1", "Ann", "Sales", true)
	tests := []struct {
		name   string
		u      directory.User
		k      *Known
		action Action
		reason string
	}{
		{"joiner", ann, nil, Create, "not yet in the target"},
		{"unchanged", ann, ptr(known(t, ann, Active)), "", ""},
		{"mover", moved, ptr(known(t, ann, Active)), Update, "attributes changed"},
		{"leaver disabled", disabled, ptr(known(t, ann, Active)), Disable, "disabled; policy disabled: disable"},
		{"already disabled", disabled, ptr(known(t, ann, StateOff)), "", ""},
		{"re-enabled", ann, ptr(known(t, ann, StateOff)), Update, "enabled again"},
		{"disabled joiner", disabled, nil, Skip, "no guest is created"},
		{"out of scope", sales, ptr(known(t, ann, Active)), SoftDelete, `out of scope: department "Sales" does not match`},
		{"out of scope, unmapped", sales, nil, "", ""},
		{"soft-deleted source", directory.User{ID: "1", Removed: directory.SoftDeleted}, ptr(known(t, ann, Active)), SoftDelete, "deleted (restorable)"},
		{"hard-deleted source", directory.User{ID: "1", Removed: directory.HardDeleted}, ptr(known(t, ann, StateGone)), "", ""},
		{"restored", ann, ptr(known(t, ann, StateGone)), Restore, "restored"},
		{"parked retry", ann, ptr(known(t, ann, Parked)), Update, "retrying"},
		{"mapping error", user("1", "BAD", "Eng", true), nil, Park, "mapping failed: Left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Policy: rules{}, Users: []directory.User{tt.u}, Known: map[string]Known{}}
			if tt.k != nil {
				in.Known["1"] = *tt.k
			}
			p := Compute(in)
			if tt.action == "" {
				if !p.Empty() {
					t.Fatalf("want no change, got %+v", p.Changes)
				}
				return
			}
			c := only(t, p)
			if c.Action != tt.action || !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s)", c.Action, c.Reason, tt.action, tt.reason)
			}
			if again := Compute(in); !samePlan(p, again) {
				t.Errorf("same input, different plan")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func samePlan(a, b *Plan) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestCreateCarriesCreateOnlyAndUpdateNarrows(t *testing.T) {
	ann := user("1", "Ann", "Eng", true)
	c := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{ann}}))
	if c.Set["userType"] != "Member" || c.Set["displayName"] != "Ann" {
		t.Errorf("create set: %v", c.Set)
	}
	// The hash a create records is the one the next read compares with:
	// the same user, read again, is unchanged (create-only properties
	// do not count).
	if again := Compute(Input{Policy: rules{}, Users: []directory.User{ann}, Known: map[string]Known{"1": {GuestID: "g-1", State: Active, Hash: c.Hash}}}); !again.Empty() || again.Unchanged != 1 {
		t.Errorf("a created user read again is planned: %+v", again.Changes)
	}
	moved := user("1", "Ann", "Research", true)
	u := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{moved}, Known: map[string]Known{"1": known(t, ann, Active)}}))
	if _, ok := u.Set["userType"]; ok {
		t.Errorf("update carries a create-only property: %v", u.Set)
	}
	u.Narrow(directory.User{ID: "g-1", Attrs: map[string]any{"displayName": "Ann", "department": "Eng"}})
	if len(u.Set) != 1 || u.Set["department"] != "Research" || u.Old["department"] != "Eng" {
		t.Errorf("narrowed: set %v old %v", u.Set, u.Old)
	}
}

func TestDuplicateMailsSkipBoth(t *testing.T) {
	a := user("1", "Ann", "Eng", true)
	b := user("2", "Bob", "Eng", true)
	b.Attrs["mail"] = "ANN@contoso.example"
	p := Compute(Input{Policy: rules{}, Users: []directory.User{a, b}})
	if len(p.Changes) != 2 {
		t.Fatalf("changes: %+v", p.Changes)
	}
	for _, c := range p.Changes {
		if c.Action != Skip || !strings.Contains(c.Reason, "duplicate mail") || !strings.Contains(c.Reason, "ann@contoso.example") {
			t.Errorf("%s: %s %s", c.SourceID, c.Action, c.Reason)
		}
	}
}

func TestThresholdStagesDestructiveChanges(t *testing.T) {
	var users []directory.User
	knownMap := map[string]Known{}
	for _, id := range []string{"1", "2", "3"} {
		u := user(id, "U"+id, "Eng", true)
		knownMap[id] = known(t, u, Active)
		u.Attrs["accountEnabled"] = false
		users = append(users, u)
	}
	users = append(users, user("4", "New", "Eng", true))
	p := Compute(Input{Policy: rules{threshold: 2}, Users: users, Known: knownMap})
	counts := p.Counts()
	if counts["stage"] != 3 || counts["create"] != 1 || counts["disable"] != 0 {
		t.Fatalf("counts: %v", counts)
	}
	for _, c := range p.Changes {
		if c.Action == Stage && (c.Staged != Disable || !strings.Contains(c.Reason, "threshold of 2")) {
			t.Errorf("staged change: %+v", c)
		}
	}
	if p2 := Compute(Input{Policy: rules{threshold: 3}, Users: users, Known: knownMap}); p2.Counts()["disable"] != 3 {
		t.Errorf("at the threshold: %v", p2.Counts())
	}
}

func TestManagerResolution(t *testing.T) {
	emp := user("1", "Ann", "Eng", true)
	emp.Attrs["manager"] = "m1"
	pending := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{emp}}))
	if !pending.ManagerPending || pending.ManagerSourceID != "m1" {
		t.Errorf("pending manager: %+v", pending)
	}
	if _, ok := pending.Set["manager"]; ok {
		t.Errorf("unresolved manager written: %v", pending.Set)
	}
	guestOf := func(id string) (string, bool) { return "g-" + id, id == "m1" }
	set := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{emp}, ManagerGuest: guestOf}))
	if set.Set["manager"] != "g-m1" || set.ManagerPending {
		t.Errorf("resolved manager: %+v", set)
	}
	// Recorded while the manager had no guest, and the cycle that would
	// have written it was cut short: the same hash, but the reference is
	// still to write, so the user is updated with it.
	stale := Known{GuestID: "g-1", State: Active, ManagerSourceID: "m1", Hash: 1}
	h := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{emp}, Known: map[string]Known{"1": stale}, ManagerGuest: guestOf})).Hash
	kp := Known{GuestID: "g-1", State: Active, ManagerSourceID: "m1", ManagerPending: true, Hash: h}
	due := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{emp}, Known: map[string]Known{"1": kp}, ManagerGuest: guestOf}))
	if due.Action != Update || due.Set["manager"] != "g-m1" {
		t.Errorf("unwritten manager not planned: %+v", due)
	}
	kw := kp
	kw.ManagerPending = false
	if p := Compute(Input{Policy: rules{}, Users: []directory.User{emp}, Known: map[string]Known{"1": kw}, ManagerGuest: guestOf}); !p.Empty() {
		t.Errorf("a written manager planned again: %+v", p.Changes)
	}
	// The manager left: nil clears the reference.
	emp.Attrs["manager"] = nil
	k := Known{GuestID: "g-1", State: Active, ManagerSourceID: "m1", Hash: 1}
	cleared := only(t, Compute(Input{Policy: rules{}, Users: []directory.User{emp}, Known: map[string]Known{"1": k}, ManagerGuest: guestOf}))
	if v, ok := cleared.Set["manager"]; !ok || v != nil {
		t.Errorf("manager not cleared: %v", cleared.Set)
	}
}

func TestGoneAfterFullRead(t *testing.T) {
	p := Compute(Input{Policy: rules{actions: map[policy.Event]Action{policy.HardDeleted: HardDelete}}, Gone: []string{"9"}, Known: map[string]Known{"9": {GuestID: "g-9", State: Active}}})
	if c := only(t, p); c.Action != HardDelete || !strings.Contains(c.Reason, "full read") {
		t.Errorf("gone: %+v", c)
	}
}

func TestPrint(t *testing.T) {
	ann := user("1", "Ann", "Eng", true)
	p := Compute(Input{Policy: rules{}, Users: []directory.User{ann}})
	var text, js bytes.Buffer
	_ = p.WriteText(&text, "c2f")
	if !strings.Contains(text.String(), "pair c2f: 1 create") || !strings.Contains(text.String(), "why: in scope") {
		t.Errorf("text: %s", text.String())
	}
	d := Document{Version: DocumentVersion, Pairs: []PairPlan{NewPairPlan("c2f", p), NewPairPlan("idle", &Plan{Unchanged: 3}), FailedPairPlan("f2c", "boom")}}
	_ = d.Write(&js)
	var doc struct {
		Version int
		Pairs   []map[string]any
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Version != 1 || len(doc.Pairs) != 3 {
		t.Fatalf("json: %v %s", err, js.String())
	}
	if c2f := doc.Pairs[0]; c2f["pair"] != "c2f" || c2f["pending"] != 1.0 || c2f["counts"].(map[string]any)["create"] != 1.0 || len(c2f["changes"].([]any)) != 1 {
		t.Errorf("json: c2f: %v", c2f)
	}
	// Nothing to do is an empty list, never null; a failed pair has its
	// error and no changes at all (unknown, not none).
	if idle := doc.Pairs[1]; idle["changes"] == nil || idle["pending"] != 0.0 || idle["unchanged"] != 3.0 {
		t.Errorf("json: idle: %v", idle)
	}
	if f2c := doc.Pairs[2]; f2c["error"] != "boom" || len(f2c) != 2 {
		t.Errorf("json: f2c: %v", f2c)
	}
}

func TestPending(t *testing.T) {
	p := &Plan{Changes: []Change{{Action: Create}, {Action: Skip}, {Action: Park}, {Action: Stage}, {Action: Update}}}
	if n := p.Pending(); n != 3 {
		t.Errorf("pending %d, want 3 (create, stage, update)", n)
	}
}

func TestApplyDecisions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    Change
		staged    Staged
		want      Action // "" : dropped as unchanged
		rejected  bool
		unchanged int
	}{
		{"approved stage runs its action", Change{Action: Stage, Staged: SoftDelete}, Staged{Action: SoftDelete, Verdict: Approved, By: "ann"}, SoftDelete, false, 0},
		{"approved, planned directly", Change{Action: Disable}, Staged{Action: Disable, Verdict: Approved, By: "ann"}, Disable, false, 0},
		{"rejected settles", Change{Action: Stage, Staged: HardDelete}, Staged{Action: HardDelete, Verdict: Rejected, By: "bob"}, Skip, true, 0},
		{"rejected, planned directly", Change{Action: SoftDelete}, Staged{Action: SoftDelete, Verdict: Rejected, By: "bob"}, Skip, true, 0},
		{"pending, same action: still waiting", Change{Action: SoftDelete}, Staged{Action: SoftDelete}, "", false, 1},
		{"pending, another action: restaged", Change{Action: HardDelete}, Staged{Action: SoftDelete}, Stage, false, 0},
		{"not destructive: untouched", Change{Action: Update}, Staged{Action: SoftDelete, Verdict: Rejected}, Update, false, 0},
		{"adoption pending: waits", Change{Action: Create}, Staged{Action: Adopt, GuestID: "g1"}, "", false, 1},
		{"adoption approved: the create adopts", Change{Action: Create}, Staged{Action: Adopt, GuestID: "g1", Verdict: Approved, By: "ann"}, Create, false, 0},
		{"adoption rejected: skipped, kept listed", Change{Action: Create}, Staged{Action: Adopt, GuestID: "g1", Verdict: Rejected, By: "bob"}, Skip, false, 0},
	} {
		tc.change.SourceID = "u1"
		p := &Plan{Changes: []Change{tc.change}}
		applyDecisions(p, map[string]Staged{"u1": tc.staged})
		switch {
		case tc.want == "" && len(p.Changes) != 0:
			t.Errorf("%s: kept %+v", tc.name, p.Changes)
		case tc.want != "" && (len(p.Changes) != 1 || p.Changes[0].Action != tc.want || p.Changes[0].Rejected != tc.rejected):
			t.Errorf("%s: got %+v, want %s rejected=%v", tc.name, p.Changes, tc.want, tc.rejected)
		case tc.want == Create && p.Changes[0].AdoptGuest != tc.staged.GuestID:
			t.Errorf("%s: adopts %q, want %q", tc.name, p.Changes[0].AdoptGuest, tc.staged.GuestID)
		case p.Unchanged != tc.unchanged:
			t.Errorf("%s: unchanged %d, want %d", tc.name, p.Unchanged, tc.unchanged)
		}
	}
}
