package graphsim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"
)

// mergedGroup is every object of one group in a groups delta round.
type mergedGroup struct {
	objects int
	attrs   map[string]any
	added   map[string]string // member ID -> @odata.type
	left    map[string]bool
	removed bool
}

// groupRound follows a groups delta round from url to its deltaLink and
// merges the objects by group ID.
func groupRound(t *testing.T, s *Server, tok, url string, hdr ...string) (map[string]*mergedGroup, string, int) {
	t.Helper()
	out := map[string]*mergedGroup{}
	pages := 0
	for {
		code, _, body := raw(t, s, tok, "GET", url, "", hdr...)
		if code != 200 {
			t.Fatalf("%s: %d %v", url, code, body)
		}
		pages++
		for _, v := range body["value"].([]any) {
			o := v.(map[string]any)
			id := o["id"].(string)
			m := out[id]
			if m == nil {
				m = &mergedGroup{attrs: map[string]any{}, added: map[string]string{}, left: map[string]bool{}}
				out[id] = m
			}
			m.objects++
			for k, x := range o {
				switch k {
				case "id":
				case "@removed":
					m.removed = true
				case "members@delta":
					for _, e := range x.([]any) {
						em := e.(map[string]any)
						mid := em["id"].(string)
						if _, gone := em["@removed"]; gone {
							m.left[mid] = true
						} else {
							m.added[mid] = em["@odata.type"].(string)
						}
					}
				default:
					m.attrs[k] = x
				}
			}
		}
		if l, ok := body["@odata.deltaLink"].(string); ok {
			return out, l, pages
		}
		url = body["@odata.nextLink"].(string)
	}
}

func TestGroupsDeltaRounds(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 200, Seed: 9, Tenants: []string{"contoso"}, Now: clock.Now, TokenLifetime: 365 * 24 * time.Hour})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")
	us := ten.Users()
	var members []string
	for _, u := range us[:120] {
		members = append(members, u.ID)
	}
	big, err := ten.AddGroupWith(Group{DisplayName: "Big", MailNickname: "big", Description: "many", Members: members})
	if err != nil {
		t.Fatal(err)
	}
	small, _ := ten.AddGroupWith(Group{DisplayName: "Small", Members: []string{us[150].ID, big}})
	untouched, _ := ten.GroupID("Sync Scope")
	prefer := []string{"Prefer", "odata.maxpagesize=4"}

	all, link, pages := groupRound(t, s, tok, "/groups/delta?$select=displayName,description,mailNickname,members", prefer...)
	if len(all) != 12 || pages < 3 {
		t.Fatalf("initial round: %d groups in %d pages", len(all), pages)
	}
	b := all[big]
	if b.objects != 3 || len(b.added) != 120 || b.attrs["displayName"] != "Big" || b.attrs["description"] != "many" || b.attrs["mailNickname"] != "big" {
		t.Fatalf("big group: %d objects, %d members, %v", b.objects, len(b.added), b.attrs)
	}
	if sm := all[small]; sm.added[big] != "#microsoft.graph.group" || sm.added[us[150].ID] != "#microsoft.graph.user" || len(sm.added) != 2 {
		t.Fatalf("small group: %+v", sm)
	}
	// Only direct members: All Staff nests the department groups.
	staff, _ := ten.GroupID("All Staff")
	if got := len(all[staff].added); got != len(ten.Members(staff, false)) {
		t.Fatalf("All Staff: %d members in delta, %d direct", got, len(ten.Members(staff, false)))
	}

	quiet, link, _ := groupRound(t, s, tok, link)
	if len(quiet) != 0 {
		t.Fatalf("quiet round: %v", quiet)
	}

	// Changes: a member added and one removed, a rename, a user deleted,
	// a group deleted, a group created.
	must(t, ten.AddMember(big, us[130].ID))
	must(t, ten.RemoveMember(big, us[5].ID))
	must(t, ten.UpdateGroup(small, map[string]any{"displayName": "Smaller"}))
	want := map[string]bool{big: true, small: true, staff: true}
	for id := range ten.Groups() {
		if g, _ := ten.Group(id); slices.Contains(g.Members, us[150].ID) {
			want[id] = true // the deleted user leaves them all
		}
	}
	must(t, ten.HardDelete(us[150].ID))
	doomed, _ := ten.GroupID("Dept Legal")
	must(t, ten.DeleteGroup(doomed))
	fresh, _ := ten.AddGroupWith(Group{DisplayName: "Fresh", Members: []string{us[1].ID}})
	want[doomed], want[fresh] = true, true
	ch, link, _ := groupRound(t, s, tok, link)
	if len(ch) != len(want) {
		t.Fatalf("changed round: %d groups: %v", len(ch), keys(ch))
	}
	b = ch[big]
	if len(b.attrs) != 0 || len(b.added) != 1 || b.added[us[130].ID] == "" || len(b.left) != 1 || !b.left[us[5].ID] {
		t.Fatalf("big after a member change: %+v", b)
	}
	if sm := ch[small]; sm.attrs["displayName"] != "Smaller" || len(sm.added) != 0 || !sm.left[us[150].ID] || len(sm.left) != 1 {
		t.Fatalf("small after rename and a deleted user: %+v", sm)
	}
	if !ch[doomed].removed {
		t.Fatalf("deleted group: %+v", ch[doomed])
	}
	// The deleted department group left All Staff.
	if !ch[staff].left[doomed] || len(ch[staff].attrs) != 0 {
		t.Fatalf("All Staff after a nested group's deletion: %+v", ch[staff])
	}
	if f := ch[fresh]; f.attrs["displayName"] != "Fresh" || len(f.added) != 1 {
		t.Fatalf("fresh group: %+v", f)
	}
	if _, ok := ch[untouched]; ok {
		t.Fatal("an unchanged group was reported")
	}

	// Prefer return=minimal: only the changed properties.
	must(t, ten.UpdateGroup(small, map[string]any{"description": "tiny"}))
	minimal, _, _ := groupRound(t, s, tok, link, "Prefer", "return=minimal")
	if a := minimal[small].attrs; len(a) != 1 || a["description"] != "tiny" {
		t.Fatalf("minimal: %v", a)
	}
	def, link, _ := groupRound(t, s, tok, link)
	if a := def[small].attrs; len(a) != 3 || a["displayName"] != "Smaller" {
		t.Fatalf("default: %v", a)
	}

	// Members not selected: a member change shows nothing.
	_, nl, _ := groupRound(t, s, tok, "/groups/delta?$select=displayName")
	must(t, ten.AddMember(big, us[131].ID))
	if none, _, _ := groupRound(t, s, tok, nl); len(none) != 0 {
		t.Fatalf("member change without members selected: %v", keys(none))
	}

	// $deltatoken=latest: no groups, a link from now on.
	code, _, body := raw(t, s, tok, "GET", "/groups/delta?$select=displayName,members&$deltatoken=latest", "")
	if code != 200 || len(body["value"].([]any)) != 0 || body["@odata.deltaLink"] == nil {
		t.Fatalf("latest: %d %v", code, body)
	}
	latest := body["@odata.deltaLink"].(string)
	must(t, ten.RemoveMember(big, us[131].ID))
	if got, _, _ := groupRound(t, s, tok, latest); len(got) != 1 || !got[big].left[us[131].ID] {
		t.Fatalf("after latest: %v", got)
	}

	// $filter on ids.
	f := "/groups/delta?$select=displayName,members&$filter=" + escape(fmt.Sprintf("id eq '%s' or id eq '%s'", small, fresh))
	if got, _, _ := groupRound(t, s, tok, f); len(got) != 2 || got[small] == nil || got[fresh] == nil {
		t.Fatalf("filtered: %v", keys(got))
	}
	for _, bad := range []string{
		"/groups/delta?$filter=" + escape("displayName eq 'x'"),
		"/groups/delta?$top=5",
		"/groups/delta?$expand=members",
		"/groups/delta?$select=colour",
		"/groups/delta?$skiptoken=forged",
	} {
		if code, _, _ := raw(t, s, tok, "GET", bad, ""); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
	// A users-delta token is not a groups-delta token.
	_, _, ub := raw(t, s, tok, "GET", "/users/delta?$deltatoken=latest", "")
	ulink := ub["@odata.deltaLink"].(string)
	if code, _, _ := raw(t, s, tok, "GET", "/groups/delta?"+ulink[len(s.GraphURL()+"/users/delta()?"):], ""); code != 400 {
		t.Errorf("users token on groups delta: %d", code)
	}

	// Expired tokens.
	ten.ExpireDeltaTokens()
	code, _, body = raw(t, s, tok, "GET", link, "")
	if code != http.StatusBadRequest || errCode(body) != "syncStateNotFound" {
		t.Fatalf("expired: %d %v", code, body)
	}
	_, link, _ = groupRound(t, s, tok, "/groups/delta?$select=members")
	clock.Advance(8 * 24 * time.Hour)
	if code, _, _ := raw(t, s, tok, "GET", link, ""); code != http.StatusBadRequest {
		t.Fatalf("old token: %d", code)
	}
	st := s.Stats().Tenant("contoso")
	if st.Routes["GET /groups/delta"] == 0 || st.Routes["GET /groups/{id}/members"] != 0 {
		t.Fatalf("stats %v", st.Routes)
	}
}

// TestGroupsDeltaSplitAcrossPages: a group's objects straddle pages, and a
// membership change between pages loses no member.
func TestGroupsDeltaSplitAcrossPages(t *testing.T) {
	s := startSim(t, Options{Users: 400, Seed: 2, Tenants: []string{"contoso"}})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")
	us := ten.Users()
	var ids []string
	for _, u := range us[:330] {
		ids = append(ids, u.ID)
	}
	g, _ := ten.AddGroupWith(Group{DisplayName: "Huge", Members: ids})
	url := "/groups/delta?$select=members&$filter=" + escape("id eq '"+g+"'")
	got := map[string]bool{}
	objects, pages := 0, 0
	for {
		code, _, body := raw(t, s, tok, "GET", url, "", "Prefer", "odata.maxpagesize=2")
		if code != 200 {
			t.Fatal(code, body)
		}
		pages++
		for _, v := range body["value"].([]any) {
			objects++
			for _, e := range v.(map[string]any)["members@delta"].([]any) {
				got[e.(map[string]any)["id"].(string)] = true
			}
		}
		if pages == 1 {
			// Members sorted before the resume point leave; the rest must
			// still all arrive.
			sorted := append([]string(nil), ids...)
			sort.Strings(sorted)
			must(t, ten.RemoveMember(g, sorted[0]))
			must(t, ten.RemoveMember(g, sorted[1]))
		}
		if _, ok := body["@odata.deltaLink"]; ok {
			break
		}
		url = body["@odata.nextLink"].(string)
	}
	if objects != 7 || pages != 4 || len(got) != 330 {
		t.Fatalf("%d objects in %d pages, %d members", objects, pages, len(got))
	}
}

func keys(m map[string]*mergedGroup) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
