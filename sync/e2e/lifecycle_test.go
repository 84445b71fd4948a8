package e2e

import (
	"sort"
	"testing"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestLifecycle follows people through joiner, mover, leaver, deletion,
// restore and permanent deletion, with faults off and again with the
// realistic profile (throttling, latency, faults, replication lag).
func TestLifecycle(t *testing.T) {
	for _, profile := range []graphsim.Profile{graphsim.ProfileExact, graphsim.ProfileRealistic} {
		t.Run(string(profile), func(t *testing.T) {
			exact := profile == graphsim.ProfileExact
			h := newHarness(t, setup{profile: profile, policy: app.DefaultSimPair + "[pair.lifecycle]\nhard_deleted = \"hard-delete\"\n"})
			boss := h.addMember(h.src, map[string]any{"displayName": "Bea Boss", "department": "Engineering", "jobTitle": "Director", "givenName": "Bea", "surname": "Boss"})
			ann := h.addMember(h.src, map[string]any{"displayName": "Ann O'Brien", "department": "Engineering", "jobTitle": "Engineer", "manager": boss, "city": "Zürich"})
			bob := h.addMember(h.src, map[string]any{"displayName": "Bob Müller", "department": "Engineering", "manager": ann})

			// Joiners: guests with mapped attributes, the stamp, and the
			// manager chain once both ends have guests.
			h.converge()
			g := h.mustGuest(ann)
			for k, want := range map[string]any{"displayName": "Ann O'Brien", "department": "Engineering", "jobTitle": "Engineer",
				"city": "Zürich", "mail": "ann.obrien@contoso.onmicrosoft.com", "userType": "Member", "creationType": "Invitation"} {
				if g.Attrs[k] != want {
					t.Errorf("guest of ann: %s = %v, want %v", k, g.Attrs[k], want)
				}
			}
			if g.Attrs["manager"] != h.mustGuest(boss).ID || h.mustGuest(bob).Attrs["manager"] != g.ID {
				t.Errorf("manager chain: ann's manager %v (boss %s), bob's %v (ann %s)", g.Attrs["manager"], h.mustGuest(boss).ID, h.mustGuest(bob).Attrs["manager"], g.ID)
			}
			for _, id := range []string{boss, ann, bob} {
				if n := h.stamped(id); n != 1 {
					t.Errorf("source user %s has %d stamped guests", id, n)
				}
			}

			// Mover: only the changed properties are patched.
			if err := h.src.UpdateUser(ann, map[string]any{"department": "Research", "jobTitle": "Lead"}); err != nil {
				t.Fatal(err)
			}
			before := h.writes()
			h.converge()
			if g := h.mustGuest(ann); g.Attrs["department"] != "Research" || g.Attrs["jobTitle"] != "Lead" || g.Attrs["displayName"] != "Ann O'Brien" {
				t.Errorf("mover: %v", g.Attrs)
			}
			if exact {
				if w := h.writes() - before; w != 1 {
					t.Errorf("mover cost %d writes, want 1 PATCH", w)
				}
				recs, err := h.app.Store.Logs(h.ctx, guestmap.LogQuery{Pair: pairName, SourceID: ann})
				if err != nil {
					t.Fatal(err)
				}
				last := recs[len(recs)-1]
				var props []string
				for _, c := range last.Changes {
					props = append(props, c.Prop)
				}
				sort.Strings(props)
				if last.Action != "update" || len(props) != 2 || props[0] != "department" || props[1] != "jobTitle" {
					t.Errorf("mover's log record: %s %v", last.Action, props)
				}
			}

			// Leaver: disabled at the source, disabled in the target.
			if err := h.src.UpdateUser(bob, map[string]any{"accountEnabled": false}); err != nil {
				t.Fatal(err)
			}
			h.converge()
			if g := h.mustGuest(bob); g.Attrs["accountEnabled"] != false {
				t.Errorf("leaver's guest is enabled: %v", g.Attrs["accountEnabled"])
			}
			// Back at work: enabled again.
			if err := h.src.UpdateUser(bob, map[string]any{"accountEnabled": true}); err != nil {
				t.Fatal(err)
			}
			h.converge()
			if g := h.mustGuest(bob); g.Attrs["accountEnabled"] != true {
				t.Errorf("returning user's guest is disabled")
			}

			// Deleted at the source: soft-deleted in the target (default).
			if err := h.src.SoftDelete(bob); err != nil {
				t.Fatal(err)
			}
			h.converge()
			if g := h.mustGuest(bob); !g.Deleted {
				t.Errorf("deleted user's guest is not soft-deleted")
			}
			// Restored at the source: restored in the target.
			if err := h.src.Restore(bob); err != nil {
				t.Fatal(err)
			}
			h.converge()
			if g := h.mustGuest(bob); g.Deleted {
				t.Errorf("restored user's guest is still deleted")
			}

			// Gone for good, with hard_deleted = "hard-delete": the guest is
			// gone too, and the manager reference on its reports is
			// cleared (Entra's own sync leaves it dangling).
			if err := h.src.SoftDelete(ann); err != nil {
				t.Fatal(err)
			}
			if err := h.src.HardDelete(ann); err != nil {
				t.Fatal(err)
			}
			h.converge()
			if _, ok := h.guest(ann); ok {
				t.Errorf("permanently deleted user still has a guest")
			}
			if g := h.mustGuest(bob); g.Attrs["manager"] != nil {
				t.Errorf("bob's manager not cleared after ann left: %v", g.Attrs["manager"])
			}

			// Converged: another cycle writes nothing.
			before = h.writes()
			if r := h.once(); changes(r) != 0 || h.writes() != before {
				t.Errorf("cycle after convergence: %v, %d writes", r.Counts, h.writes()-before)
			}
		})
	}
}
