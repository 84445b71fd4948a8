package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestGroupProvision drives `ctsync provision --group` as a real process
// against the simulator: without [pair.groups] it says so; a group named
// by its display name is created at once with exactly the synced guests of
// its members, nested ones included, its steps shown (import, scope,
// members, match, action, result), its record in the log, the groups
// delta link untouched; an out-of-scope group is said to be so and nothing
// is written; `map export` lists the group; the next cycle only adds the
// member whose guest it creates.
func TestGroupProvision(t *testing.T) { eachProfile(t, testGroupProvision) }

func testGroupProvision(t *testing.T, profile graphsim.Profile) {
	h := newHarness(t, setup{users: 10, profile: profile})
	g := h.addSourceGroups("Pia Platform", "Pete Platform")
	platform, direct, platformID, engID, salesID, nick := g.platform, g.direct, g.platformID, g.engID, g.salesID, g.nick
	// Platform nests Engineering back: the members read must not loop.
	if err := h.src.AddMember(platformID, engID); err != nil {
		t.Fatal(err)
	}
	// The users get their guests; the pair syncs no groups yet.
	h.mustCtsync("once", "--pair", pairName)
	if code, out := h.ctsync("provision", "--pair", pairName, "--group", "Engineering"); code != 2 || !strings.Contains(out, "syncs no groups") || !strings.Contains(out, "[pair.groups]") {
		t.Errorf("provision --group of a pair without [pair.groups]: exit %d\n%s", code, out)
	}
	if code, _ := h.ctsync("provision", "--pair", pairName, "--group", "Engineering", "--user", direct[0]); code != 2 {
		t.Errorf("provision with --user and --group: exit %d, want 2", code)
	}
	// A member whose guest does not exist yet.
	late := h.addMember(h.src, map[string]any{"displayName": "Lara Late"})
	if err := h.src.AddMember(engID, late); err != nil {
		t.Fatal(err)
	}
	h.setPolicy(engineeringPolicy)

	out := h.mustCtsync("provision", "--pair", pairName, "--group", "Engineering")
	t.Logf("ctsync provision --group Engineering:\n%s", out)
	for _, want := range []string{
		`import   "Engineering" (` + engID + `): description "all engineers"`,
		`scope    in scope: named in groups.names by display name 'Engineering'`,
		"members  direct: 3 users, 1 group; with 1 nested group read (transitive): 5 users in all; 4 with a synced guest, 1 not yet",
		"match    none: no target group carries the stamp " + nick,
		"action   group-create (+4 -0 members)",
		"result   target group ",
		"4 members ctsync manages: group-create 1, group-member-add 4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("provision output lacks %q:\n%s", want, out)
		}
	}
	target := h.targetGroup(nick)
	if target.DisplayName != "Engineering" {
		t.Errorf("target group displayName %q, want Engineering", target.DisplayName)
	}
	h.assertMembers(target.ID, append(slices.Clone(platform), direct...))
	if link, err := h.app.Store.GroupLink(h.ctx, pairName); err != nil || link != "" {
		t.Errorf("group link %q (%v) after provisioning: it must stay untouched", link, err)
	}
	if out := h.mustCtsync("logs", "--pair", pairName, "--user", engID); !strings.Contains(out, "group-create") || !strings.Contains(out, target.ID) {
		t.Errorf("logs show no group-create for %s:\n%s", engID, out)
	}

	// Out of scope: said so, nothing written.
	writes := h.writes()
	out = h.mustCtsync("provision", "--pair", pairName, "--group", salesID)
	for _, want := range []string{"scope    out of scope: not named in groups.names", "members  not read", "action   nothing to do: out of scope"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision of an out-of-scope group lacks %q:\n%s", want, out)
		}
	}
	if h.writes() != writes {
		t.Errorf("provision of an out-of-scope group wrote %d times to the target", h.writes()-writes)
	}
	entries, err := h.app.Store.GroupEntries(h.ctx, pairName)
	if err != nil || len(entries) != 1 || entries[0].SourceID != engID {
		t.Errorf("group entries after the out-of-scope provision: %+v (%v), want Engineering's alone", entries, err)
	}
	if out := h.mustCtsync("logs", "--pair", pairName, "--user", salesID); strings.Contains(out, salesID) {
		t.Errorf("the out-of-scope provision wrote a record:\n%s", out)
	}

	// map export: the users' lines as ever, then the group's.
	var groups, users int
	for _, line := range strings.Split(strings.TrimSpace(h.mustCtsync("map", "export", "--pair", pairName)), "\n") {
		var l struct {
			Kind         string   `json:"kind"`
			SourceID     string   `json:"sourceId"`
			GuestID      string   `json:"guestId"`
			TargetID     string   `json:"targetId"`
			Name         string   `json:"name"`
			Users        []string `json:"users"`
			Groups       []string `json:"groups"`
			Managed      []string `json:"managed"`
			MembersKnown bool     `json:"membersKnown"`
			InScope      bool     `json:"inScope"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("map export line %q: %v", line, err)
		}
		switch l.Kind {
		case "":
			users++
			if groups > 0 {
				t.Errorf("a user line after the group lines: %s", line)
			}
		case "group":
			groups++
			want := append(slices.Clone(direct), late)
			slices.Sort(want)
			if l.SourceID != engID || l.TargetID != target.ID || l.Name != "Engineering" || !l.MembersKnown || !l.InScope ||
				!slices.Equal(l.Users, want) || !slices.Equal(l.Groups, []string{platformID}) || len(l.Managed) != 4 {
				t.Errorf("map export's group line: %s", line)
			}
		default:
			t.Errorf("map export line of kind %q: %s", l.Kind, line)
		}
	}
	if groups != 1 || users == 0 {
		t.Errorf("map export: %d group lines (want 1), %d user lines", groups, users)
	}

	// The next cycle creates the late member's guest and adds it; the
	// group is not created again.
	out = h.mustCtsync("once", "--pair", pairName)
	if strings.Contains(out, "group-create") || !strings.Contains(out, "1 group-member-add") {
		t.Errorf("the cycle after the provision:\n%s", out)
	}
	if n := len(h.dst.GroupsByNickname(nick)); n != 1 {
		t.Errorf("%d target groups carry the stamp, want 1", n)
	}
	h.assertMembers(target.ID, append(append(slices.Clone(platform), direct...), late))
}
