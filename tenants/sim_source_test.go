package tenants

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimUsersPaging reads 2,600 seeded users plus crafted guests and
// external members: every internal member arrives once, over several
// pages, and nobody else.
func TestSimUsersPaging(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 2600, Seed: 7})
	ten := s.Tenant("contoso")
	if _, err := ten.AddUser(map[string]any{"displayName": "Guest One", "userType": "Guest",
		"creationType": "Invitation", "userPrincipalName": "g1_fabrikam.com#EXT#@contoso.onmicrosoft.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ten.AddUser(map[string]any{"displayName": "External Member", "userType": "Member",
		"creationType": "Invitation", "userPrincipalName": "em_fabrikam.com#EXT#@contoso.onmicrosoft.com"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, u := range ten.Users() {
		du := directory.User{ID: u.ID, Attrs: u.Attrs}
		if IsInternalMember(du) {
			want[u.ID] = true
		}
	}
	if len(want) < 2500 {
		t.Fatalf("only %d seeded members", len(want))
	}
	c := simClient(t, s, "contoso", nil)
	got := map[string]bool{}
	pages := 0
	err := c.Source().Users(context.Background(), []string{directory.PropDisplayName, "department"}, func(us []directory.User) error {
		pages++
		for _, u := range us {
			if got[u.ID] {
				return fmt.Errorf("user %s twice", u.ID)
			}
			if !IsInternalMember(u) {
				return fmt.Errorf("not an internal member: %+v", u)
			}
			if _, ok := u.Attr("department"); !ok {
				return fmt.Errorf("department not read: %+v", u)
			}
			got[u.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || pages < 3 {
		t.Fatalf("%d users in %d pages, want %d", len(got), pages, len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("missing %s", id)
		}
	}
}

// deltaRound runs one delta round and returns users by ID and the link.
func deltaRound(t *testing.T, src *Source, link string, props []string) (map[string]directory.User, string) {
	t.Helper()
	out := map[string]directory.User{}
	next, err := src.Delta(context.Background(), link, props, func(us []directory.User) error {
		for _, u := range us {
			out[u.ID] = u // replays: the last one wins
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next == "" {
		t.Fatal("no delta link")
	}
	return out, next
}

// TestSimDelta: a full round, then rounds seeing an add, a change, a
// disable, a soft delete and a hard delete; then an expired token.
func TestSimDelta(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}, Users: 1200, Seed: 3})
	ten := s.Tenant("contoso")
	c := simClient(t, s, "contoso", nil)
	src := c.Source()
	props := []string{directory.PropDisplayName, "jobTitle", "extensionAttribute3"}

	all, link := deltaRound(t, src, "", props)
	if len(all) < 1200 {
		t.Fatalf("full round: %d users", len(all))
	}
	for _, u := range all {
		if _, ok := u.Attr(directory.PropUserType); !ok {
			t.Fatalf("userType not selected: %+v", u)
		}
	}
	// nothing changed: an empty round
	none, link := deltaRound(t, src, link, props)
	if len(none) != 0 {
		t.Fatalf("quiet round: %d users", len(none))
	}

	ids := sortedIDs(all)
	changed, disabled, soft, hard := ids[0], ids[1], ids[2], ids[3]
	added, err := ten.AddUser(map[string]any{"displayName": "New Person", "jobTitle": "Engineer"})
	if err != nil {
		t.Fatal(err)
	}
	must(t, ten.UpdateUser(changed, map[string]any{"jobTitle": "Director", "extensionAttribute3": "x"}))
	must(t, ten.UpdateUser(disabled, map[string]any{"accountEnabled": false}))
	must(t, ten.SoftDelete(soft))
	must(t, ten.SoftDelete(hard))
	must(t, ten.HardDelete(hard))

	got, link := deltaRound(t, src, link, props)
	if u := got[added]; u.Removed != "" || u.Str("jobTitle") != "Engineer" || !IsInternalMember(u) {
		t.Errorf("added: %+v", u)
	}
	if u := got[changed]; u.Str("jobTitle") != "Director" || u.Str("extensionAttribute3") != "x" {
		t.Errorf("changed: %+v", u)
	}
	if u := got[disabled]; u.Enabled() {
		t.Errorf("disabled: %+v", u)
	}
	if u := got[soft]; u.Removed != directory.SoftDeleted {
		t.Errorf("soft deleted: %+v", u)
	}
	if u := got[hard]; u.Removed != directory.HardDeleted {
		t.Errorf("hard deleted: %+v", u)
	}

	// restore comes back as a change
	must(t, ten.Restore(soft))
	got, link = deltaRound(t, src, link, props)
	if u, ok := got[soft]; !ok || u.Removed != "" {
		t.Errorf("restored: %+v", u)
	}

	ten.ExpireDeltaTokens()
	_, err = src.Delta(context.Background(), link, props, func([]directory.User) error { return nil })
	if !IsSyncStateExpired(err) || IsBadRequest(err) {
		t.Fatalf("expired token: %v", err)
	}
}

// TestSimGroupMembers: direct members, and transitive through a nested
// group.
func TestSimGroupMembers(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	ten := s.Tenant("contoso")
	var u [4]string
	for i := range u {
		id, err := ten.AddUser(map[string]any{"displayName": fmt.Sprintf("Member %d", i)})
		must(t, err)
		u[i] = id
	}
	inner, err := ten.AddGroup("inner", u[2], u[3])
	must(t, err)
	outer, err := ten.AddGroup("outer", u[0], u[1], inner)
	must(t, err)
	src := simClient(t, s, "contoso", nil).Source()
	direct, err := src.GroupMembers(context.Background(), outer, false)
	must(t, err)
	trans, err := src.GroupMembers(context.Background(), outer, true)
	must(t, err)
	sort.Strings(direct)
	sort.Strings(trans)
	wantDirect := []string{u[0], u[1]}
	wantTrans := []string{u[0], u[1], u[2], u[3]}
	sort.Strings(wantDirect)
	sort.Strings(wantTrans)
	if fmt.Sprint(direct) != fmt.Sprint(wantDirect) || fmt.Sprint(trans) != fmt.Sprint(wantTrans) {
		t.Fatalf("direct %v transitive %v", direct, trans)
	}
}

// TestSimManagers reads 45 users' managers in $batch (3 batches).
func TestSimManagers(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	ten := s.Tenant("contoso")
	boss, err := ten.AddUser(map[string]any{"displayName": "Boss"})
	must(t, err)
	var ids []string
	want := map[string]string{}
	for i := range 45 {
		attrs := map[string]any{"displayName": fmt.Sprintf("Worker %d", i)}
		if i%3 != 0 {
			attrs["manager"] = boss
		}
		id, err := ten.AddUser(attrs)
		must(t, err)
		ids = append(ids, id)
		if i%3 != 0 {
			want[id] = boss
		}
	}
	s.ResetStats()
	got, err := simClient(t, s, "contoso", nil).Source().Managers(context.Background(), ids)
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("managers %v\nwant %v", got, want)
	}
	if n := s.Stats().Tenant("contoso").Routes["POST /$batch"]; n != 3 {
		t.Errorf("%d batches, want 3", n)
	}
}

func sortedIDs(m map[string]directory.User) []string {
	var ids []string
	for id, u := range m {
		if IsInternalMember(u) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
