package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestGroupSync drives group sync with real ctsync processes against the
// simulator: a source security group with a nested group appears in the
// target with exactly the synced guests as members (transitive); member
// changes at the source reach the target through the groups delta, with no
// member list read; a member someone added in the target stays (managed
// mode); `map rebuild` recovers the group's entry from its stamp, so no
// second group is created; and a group leaving scope is deleted.
func TestGroupSync(t *testing.T) { eachProfile(t, testGroupSync) }

// engineeringPolicy syncs the source group Engineering with its nested
// groups' members (transitive).
const engineeringPolicy = app.DefaultSimPair + "[pair.groups]\nnames = [\"Engineering\"]\ntransitive = true\n"

// sourceGroups are the source groups of the group tests: Engineering
// ("all engineers": the direct members and the group Platform, which
// holds the platform members) and Sales (one outsider).
type sourceGroups struct {
	platform, direct           []string
	outsider                   string
	platformID, engID, salesID string
	nick                       string // Engineering's stamp
}

// addSourceGroups creates the source groups, Platform's members named
// platformNames and Engineering's direct members Eve and Eli.
func (h *harness) addSourceGroups(platformNames ...string) sourceGroups {
	h.t.Helper()
	var g sourceGroups
	for _, n := range platformNames {
		g.platform = append(g.platform, h.addMember(h.src, map[string]any{"displayName": n}))
	}
	for _, n := range []string{"Eve Engineer", "Eli Engineer"} {
		g.direct = append(g.direct, h.addMember(h.src, map[string]any{"displayName": n}))
	}
	g.outsider = h.addMember(h.src, map[string]any{"displayName": "Oscar Outside"})
	var err error
	if g.platformID, err = h.src.AddGroupWith(graphsim.Group{DisplayName: "Platform", Members: g.platform}); err != nil {
		h.t.Fatal(err)
	}
	eng := graphsim.Group{DisplayName: "Engineering", Description: "all engineers", Members: append(slices.Clone(g.direct), g.platformID)}
	if g.engID, err = h.src.AddGroupWith(eng); err != nil {
		h.t.Fatal(err)
	}
	if g.salesID, err = h.src.AddGroupWith(graphsim.Group{DisplayName: "Sales", Members: []string{g.outsider}}); err != nil {
		h.t.Fatal(err)
	}
	if g.nick, err = directory.GroupStamp(h.src.ID(), g.engID); err != nil {
		h.t.Fatal(err)
	}
	return g
}

func testGroupSync(t *testing.T, profile graphsim.Profile) {
	h := newHarness(t, setup{users: 10, policy: engineeringPolicy, profile: profile})
	g := h.addSourceGroups("Pia Platform", "Pete Platform", "Pam Platform")
	platform, direct, platformID, engID, nick := g.platform, g.direct, g.platformID, g.engID, g.nick

	if out := h.mustCtsync("plan", "--pair", pairName); !strings.Contains(out, "group-create") || !strings.Contains(out, engID) {
		t.Fatalf("plan does not show the group's create:\n%s", out)
	}
	if len(h.dst.GroupsByNickname(nick)) != 0 {
		t.Fatal("plan created the group")
	}
	out := h.mustCtsync("once", "--pair", pairName)
	if !strings.Contains(out, "1 group-create") || !strings.Contains(out, "5 group-member-add") {
		t.Errorf("once does not report the group's create and its 5 members:\n%s", out)
	}
	target := h.targetGroup(nick)
	if target.DisplayName != "Engineering" {
		t.Errorf("target group displayName %q, want Engineering", target.DisplayName)
	}
	h.assertMembers(target.ID, append(slices.Clone(platform), direct...))
	if out := h.mustCtsync("status", "--pair", pairName); !strings.Contains(out, "groups "+pairName+" syncs: 1") ||
		!strings.Contains(out, target.ID) || !strings.Contains(out, "synced") {
		t.Errorf("status --pair does not list the synced group:\n%s", out)
	}
	for _, g := range h.dst.Groups() {
		if g == "Platform" || g == "Sales" {
			t.Errorf("group %q was created in the target: only the scope's groups are", g)
		}
	}

	// Someone adds a target user to the group by hand: managed mode keeps it.
	local := h.addMember(h.dst, map[string]any{"displayName": "Lou Local"})
	if err := h.dst.AddMember(target.ID, local); err != nil {
		t.Fatal(err)
	}
	// At the source: a new member of the nested group, one leaves the top group.
	newcomer := h.addMember(h.src, map[string]any{"displayName": "Nia Newcomer"})
	if err := h.src.AddMember(platformID, newcomer); err != nil {
		t.Fatal(err)
	}
	if err := h.src.RemoveMember(engID, direct[1]); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Stats().Tenant("contoso").Routes
	h.mustCtsync("once", "--pair", pairName)
	after := h.sim.Stats().Tenant("contoso").Routes
	for route, n := range after {
		if strings.Contains(route, "/members") && n > before[route] {
			t.Errorf("%d source requests %s in an incremental cycle: member changes must come from the groups delta", n-before[route], route)
		}
	}
	if d := after["GET /groups/delta"] - before["GET /groups/delta"]; d < 1 || d > 2 {
		t.Errorf("%d groups delta requests in an incremental cycle, want 1 (or 2 on a page boundary)", d)
	}
	want := append(slices.Clone(platform), direct[0], newcomer)
	h.assertMembers(target.ID, want, local)

	// The store forgets everything; the rebuild finds the group by its stamp.
	h.mustCtsync("reset", "--pair", pairName, "--map")
	out = h.mustCtsync("map", "rebuild", "--pair", pairName)
	if !strings.Contains(out, "1 mapped") || !strings.Contains(out, "stamped groups") {
		t.Errorf("map rebuild does not report the group:\n%s", out)
	}
	h.mustCtsync("once", "--pair", pairName)
	if n := len(h.dst.GroupsByNickname(nick)); n != 1 {
		t.Fatalf("%d target groups carry the stamp after the rebuild, want 1", n)
	}
	h.assertMembers(target.ID, want, local)

	// Out of scope (renamed at the source): deleted in the target.
	if err := h.src.UpdateGroup(engID, map[string]any{"displayName": "Engineering (old)"}); err != nil {
		t.Fatal(err)
	}
	h.mustCtsync("once", "--pair", pairName)
	if _, ok := h.dst.Group(target.ID); ok {
		t.Errorf("the target group of a group that left scope still exists")
	}
	if out := h.mustCtsync("logs", "--pair", pairName, "--action", "group-delete"); !strings.Contains(out, engID) {
		t.Errorf("logs show no group-delete for %s:\n%s", engID, out)
	}
}

// targetGroup returns the one target group carrying nick.
func (h *harness) targetGroup(nick string) graphsim.Group {
	h.t.Helper()
	gs := h.dst.GroupsByNickname(nick)
	if len(gs) != 1 {
		h.t.Fatalf("%d target groups carry the stamp %s, want 1", len(gs), nick)
	}
	return gs[0]
}

// assertMembers checks that a target group's members are exactly the
// guests of sourceIDs plus the target's own users extra.
func (h *harness) assertMembers(groupID string, sourceIDs []string, extra ...string) {
	h.t.Helper()
	g, ok := h.dst.Group(groupID)
	if !ok {
		h.t.Fatalf("target group %s is gone", groupID)
	}
	want := slices.Clone(extra)
	for _, id := range sourceIDs {
		want = append(want, h.mustGuest(id).ID)
	}
	got := slices.Clone(g.Members)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		h.t.Errorf("target group %s members:\n got  %v\n want %v", groupID, got, want)
	}
}
