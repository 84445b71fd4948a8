package plan

import (
	"fmt"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// TestChunkedPlanEqualsWhole: a cycle drafts its read chunk by chunk,
// settles each chunk's non-destructive changes at once and the
// destructive ones together at the end. Done so, it must decide exactly
// what one Compute over every user decides (same digest), whatever the
// chunk size: the deletion threshold counts across chunks, duplicates
// found across chunks are skipped, staged decisions apply.
func TestChunkedPlanEqualsWhole(t *testing.T) {
	var users []directory.User
	entries := map[string]Known{}
	staged := map[string]Staged{}
	for i := range 60 {
		id := fmt.Sprintf("u%02d", i)
		u := user(id, fmt.Sprintf("User%02d", i), "Eng", true)
		switch i % 6 {
		case 0: // new: create
		case 1: // mapped, unchanged
			entries[id] = known(t, u, Active)
		case 2: // mapped, changed
			k := known(t, u, Active)
			k.Hash++
			entries[id] = k
		case 3: // mapped, left scope: destructive
			entries[id] = known(t, u, Active)
			u.Attrs["department"] = "Sales"
		case 4: // mapped, disabled at the source: destructive
			entries[id] = known(t, u, Active)
			u.Attrs["accountEnabled"] = false
		case 5: // deleted at the source: destructive
			entries[id] = known(t, u, Active)
			u = directory.User{ID: id, Removed: directory.SoftDeleted}
		}
		users = append(users, u)
	}
	// Two users far apart share a mail; an admin approved one destructive
	// change and rejected another.
	users[6].Attrs["mail"] = "Shared@contoso.example"
	users[54].Attrs["mail"] = "shared@contoso.example "
	staged["u03"] = Staged{Action: SoftDelete, Verdict: Approved, By: "ann"}
	staged["u09"] = Staged{Action: SoftDelete, Verdict: Rejected, By: "bob"}

	for _, threshold := range []int{0, 5, 100} {
		pol := rules{threshold: threshold}
		whole := Compute(Input{Policy: pol, Users: users, Known: entries, Staged: staged})
		dups := map[string]string{}
		for _, d := range policy.DuplicateMails(users, func(u directory.User) string { return u.ID }) {
			for _, id := range d.IDs {
				dups[id] = "duplicate mail: " + d.Reason
			}
		}
		for _, size := range []int{1, 7, 60} {
			all, later := &Plan{}, &Plan{}
			for i := 0; i < len(users); i += size {
				d := Draft(Input{Policy: pol, Users: users[i:min(i+size, len(users))], Known: entries, Staged: staged, Duplicates: dups})
				later.Merge(d.Split())
				d.Settle(0, staged)
				all.Merge(d)
			}
			later.Settle(threshold, staged)
			all.Merge(later)
			all.Settle(0, nil) // only sorts: the order Compute gives
			if got, want := Digest(all, 1), Digest(whole, 1); got != want {
				t.Errorf("threshold %d, chunks of %d: digest %s, whole plan %s\nchunked: %v\nwhole:   %v", threshold, size, got, want, all.Counts(), whole.Counts())
			}
			if all.Unchanged != whole.Unchanged || all.OutOfScope != whole.OutOfScope {
				t.Errorf("threshold %d, chunks of %d: unchanged %d/%d, out of scope %d/%d", threshold, size, all.Unchanged, whole.Unchanged, all.OutOfScope, whole.OutOfScope)
			}
		}
		if whole.Counts()["skip"] < 3 { // the two sharing a mail, the rejected one
			t.Errorf("threshold %d: skips %v: the duplicates or the rejection were not planned", threshold, whole.Counts())
		}
		if threshold == 5 && whole.Counts()["stage"] == 0 {
			t.Errorf("threshold 5: nothing staged, the test proves nothing: %v", whole.Counts())
		}
	}
}
