package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

func TestScopeGroupsFollowGroupsDelta(t *testing.T) {
	eachProfile(t, scopeGroupsFollowGroupsDelta)
}

// scopeGroupsFollowGroupsDelta: a pair whose user scope is a group with a
// nested group (transitive) learns who joined and left from the groups
// delta: an incremental cycle reads no member list and reads by ID only
// the users whose membership changed.
func scopeGroupsFollowGroupsDelta(t *testing.T, profile graphsim.Profile) {
	h := newHarness(t, setup{profile: profile, users: 10})
	var inner, direct []string
	for i := range 5 {
		inner = append(inner, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Ina Inner%d", i), "department": "Engineering"}))
		direct = append(direct, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Dan Direct%d", i), "department": "Engineering"}))
	}
	outsider := h.addMember(h.src, map[string]any{"displayName": "Otto Outside", "department": "Engineering"})
	// Members out of scope for another reason (the filter): never mapped,
	// and not read again every cycle.
	var others []string
	for i := range 3 {
		others = append(others, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Sal Sales%d", i), "department": "Sales"}))
	}
	platform, err := h.src.AddGroupWith(graphsim.Group{DisplayName: "Platform", Members: inner})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := h.src.AddGroupWith(graphsim.Group{DisplayName: "Engineering", Members: append(append(append([]string(nil), direct...), others...), platform)})
	if err != nil {
		t.Fatal(err)
	}
	h.setPolicy("[pair.scope]\ngroups = [\"" + eng + "\"]\ntransitive = true\n" +
		"[[pair.scope.filter]]\nclause = [{ attribute = \"department\", operator = \"EQUALS\", value = \"Engineering\" }]\n" +
		"[pair.lifecycle]\nout_of_scope = \"disable\"\n")
	h.converge()
	for _, id := range append(append([]string(nil), inner...), direct...) {
		h.mustGuest(id)
	}
	for _, id := range append([]string{outsider}, others...) {
		if _, ok := h.guest(id); ok {
			t.Fatalf("user %s, out of scope, was synced", id)
		}
	}

	// The outsider joins the nested group; a direct member leaves the top one.
	if err := h.src.AddMember(platform, outsider); err != nil {
		t.Fatal(err)
	}
	if err := h.src.RemoveMember(eng, direct[0]); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Stats().Tenant("contoso").Routes
	r := h.once()
	after := h.sim.Stats().Tenant("contoso").Routes
	if r.Full {
		t.Errorf("the incremental cycle read the users in full")
	}
	for route, n := range after {
		if (strings.Contains(route, "/members") || strings.Contains(route, "/transitiveMembers")) && n > before[route] {
			t.Errorf("%d source requests %s in an incremental cycle: membership changes must come from the groups delta", n-before[route], route)
		}
	}
	if d := after["GET /groups/delta"] - before["GET /groups/delta"]; d < 1 || d > 2 {
		t.Errorf("%d groups delta requests in an incremental cycle, want 1 (or 2 on a page boundary)", d)
	}
	if d := after["GET /users/{id}"] - before["GET /users/{id}"]; d > 2 {
		t.Errorf("%d source users read by ID in an incremental cycle, want at most the 2 who moved (not the members out of scope)", d)
	}
	if r.Counts["create"] != 1 || r.Counts["disable"] != 1 {
		t.Errorf("incremental cycle: %v, want 1 create and 1 disable", r.Counts)
	}
	h.converge()
	h.mustGuest(outsider)
	if g := h.mustGuest(direct[0]); g.Attrs["accountEnabled"] != false || g.Deleted {
		t.Errorf("the leaver's guest: enabled %v deleted %v, want disabled", g.Attrs["accountEnabled"], g.Deleted)
	}
	for _, id := range append(append([]string(nil), inner...), direct[1:]...) {
		if g := h.mustGuest(id); g.Attrs["accountEnabled"] == false {
			t.Errorf("member %s's guest was disabled", id)
		}
	}
}
