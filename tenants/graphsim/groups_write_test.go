package graphsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

var tokenOpts = policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}

func newGroupJSON(name, nick string) string {
	return fmt.Sprintf(`{"displayName":%q,"mailNickname":%q,"mailEnabled":false,"securityEnabled":true,"groupTypes":[]}`, name, nick)
}

func TestGroupCreateUpdateDelete(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5, Tenants: []string{"contoso"}})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")

	bad := map[string]string{
		"no nickname":     `{"displayName":"X","mailEnabled":false,"securityEnabled":true}`,
		"no displayName":  `{"mailNickname":"x","mailEnabled":false,"securityEnabled":true}`,
		"no mailEnabled":  `{"displayName":"X","mailNickname":"x","securityEnabled":true}`,
		"empty name":      newGroupJSON(" ", "x"),
		"space in nick":   newGroupJSON("X", "a b"),
		"at in nick":      newGroupJSON("X", "a@b"),
		"paren in nick":   newGroupJSON("X", "a(b)"),
		"colon in nick":   newGroupJSON("X", "a:b"),
		"non-ascii nick":  newGroupJSON("X", "café"),
		"long nick":       newGroupJSON("X", strings.Repeat("n", 65)),
		"empty nick":      newGroupJSON("X", ""),
		"mail-enabled":    `{"displayName":"X","mailNickname":"x","mailEnabled":true,"securityEnabled":true}`,
		"not security":    `{"displayName":"X","mailNickname":"x","mailEnabled":false,"securityEnabled":false}`,
		"unified":         `{"displayName":"X","mailNickname":"x","mailEnabled":false,"securityEnabled":true,"groupTypes":["Unified"]}`,
		"unknown":         `{"displayName":"X","mailNickname":"x","mailEnabled":false,"securityEnabled":true,"colour":"red"}`,
		"read-only id":    `{"id":"1","displayName":"X","mailNickname":"x","mailEnabled":false,"securityEnabled":true}`,
		"not an object":   `[1]`,
		"name not string": `{"displayName":5,"mailNickname":"x","mailEnabled":false,"securityEnabled":true}`,
	}
	for name, body := range bad {
		if code, _, resp := raw(t, s, tok, "POST", "/groups", body); code != 400 {
			t.Errorf("%s: %d %v", name, code, resp)
		}
	}
	if len(ten.Groups()) != 10 { // the seeded ones only
		t.Fatalf("refused creates made groups: %d", len(ten.Groups()))
	}

	nick := strings.Repeat("n", 64)
	code, hdr, g := raw(t, s, tok, "POST", "/groups",
		`{"@odata.type":"#microsoft.graph.group","displayName":"Sales EU","description":"d","mailNickname":"`+nick+`","mailEnabled":false,"securityEnabled":true,"groupTypes":[]}`)
	if code != 201 || g["id"] == nil || g["securityEnabled"] != true || g["mailEnabled"] != false || g["mailNickname"] != nick {
		t.Fatalf("create: %d %v", code, g)
	}
	id := g["id"].(string)
	if !strings.HasSuffix(hdr.Get("Location"), "/groups/"+id) {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	code, _, got := raw(t, s, tok, "GET", "/groups/"+id+"?$select=displayName,description", "")
	if code != 200 || got["displayName"] != "Sales EU" || got["description"] != "d" || got["mailNickname"] != nil {
		t.Fatalf("get: %d %v", code, got)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/groups/"+id+"?$select=members", ""); code != 400 {
		t.Errorf("$select=members on a group read: %d", code)
	}

	for name, body := range map[string]string{
		"mailEnabled":  `{"mailEnabled":true}`,
		"groupTypes":   `{"groupTypes":[]}`,
		"unknown":      `{"colour":"red"}`,
		"read-only":    `{"createdDateTime":"2020-01-01T00:00:00Z"}`,
		"bad nickname": `{"mailNickname":"a;b"}`,
		"empty name":   `{"displayName":""}`,
	} {
		if code, _, resp := raw(t, s, tok, "PATCH", "/groups/"+id, body); code != 400 {
			t.Errorf("patch %s: %d %v", name, code, resp)
		}
	}
	if code, _, resp := raw(t, s, tok, "PATCH", "/groups/"+id, `{"displayName":"Sales Europe","description":null,"mailNickname":"sales-eu"}`); code != 204 {
		t.Fatalf("patch: %d %v", code, resp)
	}
	if v, _ := ten.Group(id); v.DisplayName != "Sales Europe" || v.Description != "" || v.MailNickname != "sales-eu" {
		t.Fatalf("after patch: %+v", v)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/groups/00000000-0000-4000-8000-000000000000", `{"displayName":"x"}`); code != 404 {
		t.Errorf("patch of an unknown group: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "DELETE", "/groups/"+id, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, body := raw(t, s, tok, "GET", "/groups/"+id, ""); code != 404 {
		t.Fatalf("get after delete: %d %v", code, body)
	} else if c := errCode(body); c != "Request_ResourceNotFound" {
		t.Fatalf("code %s", c)
	}
	if code, _, _ := raw(t, s, tok, "DELETE", "/groups/"+id, ""); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}
	if _, ok := ten.Group(id); ok {
		t.Fatal("deleted group still there")
	}
	st := s.Stats().Tenant("contoso")
	if st.Routes["POST /groups"] != int64(len(bad))+1 || st.Routes["PATCH /groups/{id}"] != 8 || st.Routes["DELETE /groups/{id}"] != 2 {
		t.Fatalf("stats %v", st.Routes)
	}
}

func TestGroupMemberWrites(t *testing.T) {
	s := startSim(t, Options{Users: 30, Seed: 5, Tenants: []string{"contoso"}})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")
	us := ten.Users()
	gid, err := ten.AddGroupWith(Group{DisplayName: "Target", MailNickname: "ctsync-x"})
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := ten.AddGroup("Inner")
	base := s.GraphURL()
	ref := func(kind, id string) string { return `{"@odata.id":"` + base + "/" + kind + "/" + id + `"}` }
	path := "/groups/" + gid + "/members/$ref"

	for i, kind := range []string{"directoryObjects", "users"} {
		if code, _, body := raw(t, s, tok, "POST", path, ref(kind, us[i].ID)); code != 204 {
			t.Fatalf("add via %s: %d %v", kind, code, body)
		}
	}
	if code, _, body := raw(t, s, tok, "POST", path, ref("groups", inner)); code != 204 {
		t.Fatalf("add group: %d %v", code, body)
	}
	code, _, body := raw(t, s, tok, "POST", path, ref("directoryObjects", us[0].ID))
	if msg := errMessage(body); code != 400 || msg != errAlreadyMember {
		t.Fatalf("add twice: %d %v", code, body)
	}
	for name, b := range map[string]string{
		"unknown user":     ref("directoryObjects", "00000000-0000-4000-8000-000000000000"),
		"group as a user":  ref("users", inner),
		"user as a group":  ref("groups", us[3].ID),
		"unknown group id": ref("groups", "00000000-0000-4000-8000-000000000001"),
	} {
		if code, _, body := raw(t, s, tok, "POST", path, b); code != 404 {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	for name, b := range map[string]string{
		"no @odata.id": `{}`,
		"not a ref":    `{"@odata.id":"` + us[3].ID + `"}`,
		"devices":      ref("devices", us[3].ID),
		"self":         ref("groups", gid),
	} {
		if code, _, body := raw(t, s, tok, "POST", path, b); code != 400 {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	if code, _, _ := raw(t, s, tok, "POST", "/groups/00000000-0000-4000-8000-000000000000/members/$ref", ref("users", us[3].ID)); code != 404 {
		t.Errorf("unknown group: %d", code)
	}
	if got := ten.Members(gid, false); len(got) != 3 || got[0] != us[0].ID || got[2] != inner {
		t.Fatalf("members %v", got)
	}

	// members@odata.bind: at most 20, all or nothing.
	bind := func(ids ...string) string {
		var refs []string
		for _, id := range ids {
			refs = append(refs, `"`+base+"/directoryObjects/"+id+`"`)
		}
		return `{"members@odata.bind":[` + strings.Join(refs, ",") + `]}`
	}
	var ids []string
	for _, u := range us[3:24] {
		ids = append(ids, u.ID)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/groups/"+gid, bind(ids...)); code != 400 {
		t.Fatalf("21 binds: %d", code)
	}
	code, _, body = raw(t, s, tok, "PATCH", "/groups/"+gid, bind(append(ids[:5:5], us[0].ID)...))
	if msg := errMessage(body); code != 400 || msg != errAlreadyMember {
		t.Fatalf("bind with an existing member: %d %v", code, body)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/groups/"+gid, bind(ids[0], ids[0])); code != 400 {
		t.Fatalf("bind twice in one request: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/groups/"+gid, bind(ids[0], "00000000-0000-4000-8000-000000000000")); code != 404 {
		t.Fatalf("bind of an unknown object: %d", code)
	}
	if n := len(ten.Members(gid, false)); n != 3 {
		t.Fatalf("failed binds changed members: %d", n)
	}
	if code, _, body := raw(t, s, tok, "PATCH", "/groups/"+gid, bind(ids[:20]...)); code != 204 {
		t.Fatalf("20 binds: %d %v", code, body)
	}
	if n := len(ten.Members(gid, false)); n != 23 {
		t.Fatalf("after binds: %d members", n)
	}

	// Removal.
	del := "/groups/" + gid + "/members/" + us[1].ID + "/$ref"
	if code, _, _ := raw(t, s, tok, "DELETE", del, ""); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "DELETE", del, ""); code != 404 {
		t.Fatalf("remove twice: %d", code)
	}
	// A deleted user and a deleted group leave their groups.
	if err := ten.HardDelete(us[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := ten.DeleteGroup(inner); err != nil {
		t.Fatal(err)
	}
	if got, _ := ten.Group(gid); len(got.Members) != 20 {
		t.Fatalf("after deletes: %d members", len(got.Members))
	}
	st := s.Stats().Tenant("contoso")
	if st.Routes["POST /groups/{id}/members/$ref"] != 13 || st.Routes["DELETE /groups/{id}/members/{id}/$ref"] != 2 ||
		st.Routes["GET /groups/{id}/members"] != 0 {
		t.Fatalf("stats %v", st.Routes)
	}
}

func TestGroupWritePermissions(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5, Tenants: []string{"contoso"}})
	ten := s.Tenant("contoso")
	id, secret := ten.AddApp("GroupMember.Read.All", "User.ReadWrite.All")
	cred := secretCredential(t, s, "contoso", id, secret)
	tk, err := cred.GetToken(t.Context(), tokenOpts)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := ten.GroupID("All Staff")
	if code, _, _ := raw(t, s, tk.Token, "GET", "/groups/"+gid, ""); code != 200 {
		t.Fatalf("read: %d", code)
	}
	if code, _, _ := raw(t, s, tk.Token, "GET", "/groups/delta?$select=members", ""); code != 200 {
		t.Fatalf("delta: %d", code)
	}
	for _, w := range [][3]string{
		{"POST", "/groups", newGroupJSON("X", "x")},
		{"PATCH", "/groups/" + gid, `{"displayName":"y"}`},
		{"DELETE", "/groups/" + gid, ""},
		{"POST", "/groups/" + gid + "/members/$ref", `{"@odata.id":"` + s.GraphURL() + `/users/` + ten.Users()[0].ID + `"}`},
	} {
		if code, _, _ := raw(t, s, tk.Token, w[0], w[1], w[2]); code != 403 {
			t.Errorf("%s %s: %d, want 403", w[0], w[1], code)
		}
	}
	// GroupMember.ReadWrite.All writes members, not groups.
	id, secret = ten.AddApp("GroupMember.ReadWrite.All")
	tk, err = secretCredential(t, s, "contoso", id, secret).GetToken(t.Context(), tokenOpts)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := ten.AddGroup("Empty")
	if code, _, _ := raw(t, s, tk.Token, "POST", "/groups/"+empty+"/members/$ref", `{"@odata.id":"`+s.GraphURL()+`/users/`+ten.Users()[0].ID+`"}`); code != 204 {
		t.Errorf("member write with GroupMember.ReadWrite.All: %d", code)
	}
	if code, _, _ := raw(t, s, tk.Token, "POST", "/groups", newGroupJSON("X", "x")); code != 403 {
		t.Errorf("create with GroupMember.ReadWrite.All: %d", code)
	}
	// The default app writes groups.
	if code, _, _ := raw(t, s, accessToken(t, s, "contoso"), "POST", "/groups", newGroupJSON("X", "x")); code != 201 {
		t.Errorf("default app create: %d", code)
	}
}

// TestGroupReplicaAndIndexLag: a new group answers 404 by ID for
// ReplicationLag, to reads, writes and as a member reference; a $filter
// list sees it only after IndexLag, a plain list at once.
func TestGroupReplicaAndIndexLag(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 3, Seed: 5, Tenants: []string{"contoso"}, Now: clock.Now, TokenLifetime: 48 * time.Hour,
		Realism: &Realism{ReplicationLag: 2 * time.Second, IndexLag: 10 * time.Second}})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")
	// Seeded groups are indexed at start.
	if code, _, body := raw(t, s, tok, "GET", "/groups?$filter="+escape("displayName eq 'All Staff'"), ""); code != 200 || len(body["value"].([]any)) != 1 {
		t.Fatalf("seeded group by filter: %d %v", code, body)
	}
	_, _, g := raw(t, s, tok, "POST", "/groups", newGroupJSON("O'Brien team", "obrien"))
	id := g["id"].(string)
	_, _, g2 := raw(t, s, tok, "POST", "/groups", newGroupJSON("Other", "other"))
	id2 := g2["id"].(string)
	u := ten.Users()[0].ID
	for _, r := range [][3]string{
		{"GET", "/groups/" + id, ""},
		{"GET", "/groups/" + id + "/members", ""},
		{"PATCH", "/groups/" + id, `{"description":"x"}`},
		{"POST", "/groups/" + id + "/members/$ref", `{"@odata.id":"` + s.GraphURL() + `/users/` + u + `"}`},
		{"POST", "/groups/" + id2 + "/members/$ref", `{"@odata.id":"` + s.GraphURL() + `/groups/` + id + `"}`},
	} {
		if code, _, _ := raw(t, s, tok, r[0], r[1], r[2]); code != http.StatusNotFound {
			t.Errorf("young group: %s %s: %d", r[0], r[1], code)
		}
	}
	byNick := "/groups?$filter=" + escape("mailNickname eq 'obrien' or displayName eq 'O''Brien team'")
	if _, _, body := raw(t, s, tok, "GET", byNick, ""); len(body["value"].([]any)) != 0 {
		t.Fatalf("filter saw a new group before the index lag: %v", body)
	}
	if _, _, body := raw(t, s, tok, "GET", "/groups?$top=999", ""); len(body["value"].([]any)) != 12 {
		t.Fatalf("plain list: %v", body)
	}
	clock.Advance(3 * time.Second)
	if code, _, _ := raw(t, s, tok, "GET", "/groups/"+id, ""); code != 200 {
		t.Fatalf("after the replication lag: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "POST", "/groups/"+id2+"/members/$ref", `{"@odata.id":"`+s.GraphURL()+`/groups/`+id+`"}`); code != 204 {
		t.Fatalf("nest after the lag: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/groups/"+id, `{"displayName":"Renamed"}`); code != 204 {
		t.Fatalf("rename: %d", code)
	}
	clock.Advance(8 * time.Second) // the create is indexed, not the rename
	_, _, body := raw(t, s, tok, "GET", byNick, "")
	if v := body["value"].([]any); len(v) != 1 || v[0].(map[string]any)["displayName"] != "O'Brien team" {
		t.Fatalf("filter after the create's lag: %v", body)
	}
	clock.Advance(3 * time.Second)
	if _, _, body := raw(t, s, tok, "GET", byNick, ""); len(body["value"].([]any)) != 1 ||
		body["value"].([]any)[0].(map[string]any)["displayName"] != "Renamed" {
		t.Fatalf("filter after the rename's lag: %v", body)
	}
	// A deleted group stays listed by filters for the lag.
	raw(t, s, tok, "DELETE", "/groups/"+id, "")
	if _, _, body := raw(t, s, tok, "GET", byNick, ""); len(body["value"].([]any)) != 1 {
		t.Fatalf("deleted group left the index at once: %v", body)
	}
	clock.Advance(11 * time.Second)
	if _, _, body := raw(t, s, tok, "GET", byNick, ""); len(body["value"].([]any)) != 0 {
		t.Fatalf("deleted group still indexed: %v", body)
	}
}

func TestGroupFilters(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5, Tenants: []string{"contoso"}})
	tok := accessToken(t, s, "contoso")
	ten := s.Tenant("contoso")
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := ten.AddGroupWith(Group{DisplayName: fmt.Sprintf("Team %d", i), MailNickname: fmt.Sprintf("ctsync-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	count := func(filter string, extra ...string) (int, map[string]any) {
		t.Helper()
		q := "/groups?$filter=" + escape(filter)
		for _, e := range extra {
			q += "&" + e
		}
		code, _, body := raw(t, s, tok, "GET", q, "")
		if code != 200 {
			t.Fatalf("%s: %d %v", filter, code, body)
		}
		return len(body["value"].([]any)), body
	}
	for f, want := range map[string]int{
		"startsWith(mailNickname,'ctsync-')":                     5,
		"startsWith(mailNickname,'CTSYNC-')":                     5,
		"startsWith(displayName,'team ')":                        5,
		"mailNickname eq 'ctsync-3'":                             1,
		"displayName eq 'team 2' or displayName eq 'Team 4'":     2,
		"id in ('" + ids[0] + "','" + ids[1] + "')":              2,
		"id eq '" + ids[2] + "' and mailNickname eq 'ctsync-2'":  1,
		"id eq '" + ids[2] + "' and mailNickname eq 'ctsync-1'":  0,
		"mailNickname eq 'x'' or 1 eq 1 or mailNickname eq ''y'": 0,
	} {
		if n, body := count(f); n != want {
			t.Errorf("%s: %d groups, want %d: %v", f, n, want, body)
		}
	}
	n, body := count("startsWith(mailNickname,'ctsync-')", "$top=2", "$select=id,mailNickname")
	next, _ := body["@odata.nextLink"].(string)
	if n != 2 || next == "" || body["value"].([]any)[0].(map[string]any)["displayName"] != nil {
		t.Fatalf("paged filter: %v", body)
	}
	seen := 2
	for next != "" {
		_, _, b := raw(t, s, tok, "GET", next, "")
		seen += len(b["value"].([]any))
		next, _ = b["@odata.nextLink"].(string)
	}
	if seen != 5 {
		t.Fatalf("pages held %d groups", seen)
	}
	for _, f := range []string{"description eq 'x'", "mailNickname ne 'x'", "endsWith(mailNickname,'x')",
		"startsWith(id,'a')", "not(mailNickname eq 'x')", "mailNickname eq null", "securityEnabled eq true", "mailNickname eq 'a"} {
		if code, _, _ := raw(t, s, tok, "GET", "/groups?$filter="+escape(f), ""); code != 400 {
			t.Errorf("%s: %d, want 400", f, code)
		}
	}
}

// TestGroupListCost: a group list costs 2 resource units, like users.
func TestGroupListCost(t *testing.T) {
	s := startSim(t, Options{Users: 3, Seed: 5, Tenants: []string{"contoso"}, Realism: &Realism{Throttling: true}})
	tok := accessToken(t, s, "contoso")
	gid, _ := s.Tenant("contoso").GroupID("All Staff")
	for path, want := range map[string]string{"/groups": "2", "/groups/" + gid: "1", "/groups/delta": "1"} {
		if _, hdr, _ := raw(t, s, tok, "GET", path, ""); hdr.Get("x-ms-resource-unit") != want {
			t.Errorf("%s: %s RU, want %s", path, hdr.Get("x-ms-resource-unit"), want)
		}
	}
}
