package graphsim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// advancedHdr are the header half of Graph's advanced query parameters.
var advancedHdr = []string{"ConsistencyLevel", "eventual"}

// errCode returns the error code of a decoded Graph error body.
func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// TestFilterOperatorTable checks $filter support per property and operator
// against the table of "Advanced query capabilities on Microsoft Entra ID
// objects": each filter is sent plain and as an advanced query.
func TestFilterOperatorTable(t *testing.T) {
	s := startSim(t, Options{Users: 5, Seed: 4})
	ten := s.Tenant("contoso")
	id, err := ten.AddUser(map[string]any{"displayName": "Ext Holder", "mail": "holder@partner.example",
		"otherMails": []string{"alt@partner.example"}, "companyName": "Partner", "extensionAttribute15": "ctsync:a:1"})
	if err != nil {
		t.Fatal(err)
	}
	tok := accessToken(t, s, "contoso")
	const (
		ok    = 200
		needs = -1 // 400 Request_UnsupportedQuery plain, 200 advanced
		never = 400
	)
	cases := []struct {
		filter string
		want   int
	}{
		// Default filters keep working without any header.
		{"mail eq 'holder@partner.example'", ok},
		{"otherMails/any(x:x eq 'alt@partner.example')", ok},
		{"userType eq 'Member'", ok},
		{"startsWith(displayName,'Ext')", ok},
		{"startsWith(mail,'holder')", ok},
		{"mail in ('holder@partner.example','x@y.z')", ok},
		{"accountEnabled eq true", ok},
		{"identities/any(c:c/issuer eq 'contoso.onmicrosoft.com')", ok},
		// ne, not, endsWith and null checks are advanced only.
		{"mail ne 'x@y.z'", needs},
		{"not(userType eq 'Guest')", needs},
		{"endsWith(mail,'partner.example')", needs},
		{"mail eq null", needs},
		{"userType ne null", needs},
		{"otherMails/$count eq 1", needs},
		// Extension attributes: eq, ne, not, in, ge, le only as advanced queries.
		{"onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:1'", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 ne 'x'", needs},
		{"not(onPremisesExtensionAttributes/extensionAttribute15 eq 'x')", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 in ('ctsync:a:1','b')", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 ge 'ctsync:'", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 le 'ctsync;'", needs},
		{"startsWith(onPremisesExtensionAttributes/extensionAttribute15,'ctsync:')", never},
		{"endsWith(onPremisesExtensionAttributes/extensionAttribute15,':1')", never},
		// Properties whose eq is advanced only.
		{"companyName eq 'Partner'", needs},
		{"mobilePhone eq '1'", needs},
		{"officeLocation eq 'x'", needs},
		{"postalCode eq 'x'", needs},
		{"preferredLanguage eq 'x'", needs},
		{"streetAddress eq 'x'", needs},
		{"employeeType eq 'x'", needs},
		{"onPremisesImmutableId eq 'x'", needs},
		{"showInAddressList eq true", needs},
		// Blank cells of the table: never supported.
		{"endsWith(displayName,'r')", never},
		{"startsWith(jobTitle,'x')", never},
		{"city le 'x'", never},
		{"identities/any(c:c/issuer ne 'x')", never},
		{"businessPhones/any(x:startsWith(x,'1'))", never},
		{"passwordProfile eq 'x'", never},
	}
	for _, c := range cases {
		path := "/users?$filter=" + escape(c.filter)
		code, _, body := raw(t, s, tok, "GET", path, "")
		want := c.want
		if want == needs {
			want = http.StatusBadRequest
		}
		if code != want {
			t.Errorf("%q plain: %d, want %d (%s)", c.filter, code, want, errMessage(body))
			continue
		}
		if code == http.StatusBadRequest && errCode(body) != codeUnsupported {
			t.Errorf("%q plain: code %q, want %s", c.filter, errCode(body), codeUnsupported)
		}
		if c.want == needs && !strings.Contains(errMessage(body), "ConsistencyLevel:eventual") {
			t.Errorf("%q plain: message does not name the advanced parameters: %s", c.filter, errMessage(body))
		}
		// $count=true without the header is ignored: still plain.
		if c.want == needs {
			if code, _, _ := raw(t, s, tok, "GET", path+"&$count=true", ""); code != http.StatusBadRequest {
				t.Errorf("%q with $count=true but no header: %d, want 400", c.filter, code)
			}
			if code, _, _ := raw(t, s, tok, "GET", path, "", advancedHdr...); code != http.StatusBadRequest {
				t.Errorf("%q with the header but no $count: %d, want 400", c.filter, code)
			}
		}
		code, _, body = raw(t, s, tok, "GET", path+"&$count=true", "", advancedHdr...)
		want = c.want
		if want == needs {
			want = ok
		}
		if code != want {
			t.Errorf("%q advanced: %d, want %d (%s)", c.filter, code, want, errMessage(body))
		}
	}

	// The extension-attribute filter finds its holder.
	code, _, body := raw(t, s, tok, "GET", "/users?$count=true&$filter="+escape("onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:1'"), "", advancedHdr...)
	if vals, _ := body["value"].([]any); code != 200 || len(vals) != 1 || vals[0].(map[string]any)["id"] != id || body["@odata.count"] != float64(1) {
		t.Fatalf("ext filter: %d %v", code, body)
	}
	// $count=true without the header: 200, no @odata.count.
	code, _, body = raw(t, s, tok, "GET", "/users?$count=true&$top=2", "")
	if _, has := body["@odata.count"]; code != 200 || has {
		t.Fatalf("$count=true without header: %d %v", code, body)
	}
	// In $batch the ConsistencyLevel header must be in the item, not on the
	// envelope (aad-advanced-queries, note on batch requests).
	item := `{"requests":[{"id":"1","method":"GET","url":"/users?$count=true&$filter=` +
		escape("onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:1'") + `"HDRS}]}`
	for _, c := range []struct {
		hdrs  string
		outer bool
		want  float64
	}{{"", true, 400}, {`,"headers":{"ConsistencyLevel":"eventual"}`, false, 200}} {
		var extra []string
		if c.outer {
			extra = advancedHdr
		}
		code, _, body := raw(t, s, tok, "POST", "/$batch", strings.Replace(item, "HDRS", c.hdrs, 1), extra...)
		rs, _ := body["responses"].([]any)
		if code != 200 || len(rs) != 1 || rs[0].(map[string]any)["status"] != c.want {
			t.Errorf("batch advanced query (item headers %q): %d %v", c.hdrs, code, body)
		}
	}
	// The $count segment without the header is Graph's documented 400.
	code, _, body = raw(t, s, tok, "GET", "/users/$count", "")
	if code != 400 || errCode(body) != codeBadRequest || errMessage(body) != "$count is not currently supported." {
		t.Fatalf("/users/$count without header: %d %v", code, body)
	}
}

// appToken registers an app with perms in tenant and returns its token.
func appToken(t *testing.T, s *Server, tenant string, perms ...string) string {
	t.Helper()
	id, secret := s.Tenant(tenant).AddApp(perms...)
	cred := secretCredential(t, s, tenant, id, secret)
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tk.Token
}

func TestMailConflict(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 5})
	ten := s.Tenant("contoso")
	tok := accessToken(t, s, "contoso")
	a, _ := ten.AddUser(map[string]any{"displayName": "Ada", "mail": "ada@contoso.onmicrosoft.com"})
	b, _ := ten.AddUser(map[string]any{"displayName": "Bob", "mail": "bob@partner.example",
		"otherMails": []string{"bob.alt@partner.example"}, "proxyAddresses": []string{"SMTP:bob@partner.example", "smtp:bob.proxy@partner.example"}})
	cases := []struct {
		name, body string
		want       int
	}{
		{"mail held as mail", `{"mail":"BOB@partner.example"}`, 400},
		{"mail held in otherMails", `{"mail":"bob.alt@partner.example"}`, 400},
		{"mail held in proxyAddresses", `{"mail":"bob.proxy@partner.example"}`, 400},
		{"mail held as UPN", `{"mail":"bob@contoso.onmicrosoft.com"}`, 400},
		{"otherMails held as mail", `{"otherMails":["x@y.example","bob@partner.example"]}`, 400},
		{"own mail again", `{"mail":"ada@contoso.onmicrosoft.com"}`, 204},
		{"free address", `{"mail":"ada@free.example","otherMails":["ada2@free.example"]}`, 204},
	}
	for _, c := range cases {
		code, _, body := raw(t, s, tok, "PATCH", "/users/"+a, c.body)
		if code != c.want {
			t.Errorf("%s: %d, want %d (%v)", c.name, code, c.want, body)
			continue
		}
		if code != 400 {
			continue
		}
		e := body["error"].(map[string]any)
		d, _ := e["details"].([]any)
		if e["code"] != codeBadRequest || e["message"] != "Another object with the same value for property proxyAddresses already exists." || len(d) == 0 {
			t.Errorf("%s: error shape %v", c.name, e)
			continue
		}
		if d0 := d[0].(map[string]any); d0["code"] != "ObjectConflict" || d0["target"] != "proxyAddresses" {
			t.Errorf("%s: details %v", c.name, d)
		}
	}
	// Nothing of a refused PATCH is applied.
	if u, _ := ten.User(a); u.Attrs["mail"] != "ada@free.example" {
		t.Fatalf("mail after refusals: %v", u.Attrs["mail"])
	}
	// A new mail becomes the primary SMTP proxy address; the old one stays
	// held as a secondary address.
	if code, _, body := raw(t, s, tok, "PATCH", "/users/"+a, `{"mail":"ada.next@free.example"}`); code != 204 {
		t.Fatalf("second mail change: %d %v", code, body)
	}
	_, _, body := raw(t, s, tok, "GET", "/users/"+a+"?$select=id,proxyAddresses", "")
	if pa, _ := body["proxyAddresses"].([]any); len(pa) < 2 || pa[0] != "SMTP:ada.next@free.example" || !slices.Contains(pa, any("smtp:ada@free.example")) {
		t.Fatalf("proxyAddresses after mail changes: %v", body)
	}
	if code, _, _ := raw(t, s, tok, "PATCH", "/users/"+b, `{"mail":"ada@free.example"}`); code != 400 {
		t.Fatalf("taking a mail still held in proxyAddresses: %d", code)
	}
	// POST /users is held to the same rule.
	code, _, _ := raw(t, s, tok, "POST", "/users", `{"accountEnabled":true,"displayName":"C","mailNickname":"c","userPrincipalName":"c@contoso.onmicrosoft.com","passwordProfile":{"password":"x1!Aaaaa"},"mail":"bob@partner.example"}`)
	if code != 400 {
		t.Fatalf("create with a held mail: %d", code)
	}
}

func TestCollaborationSettings(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 6})
	ten := s.Tenant("fabrikam")
	tok := accessToken(t, s, "fabrikam")
	inv := func(addr string) (int, map[string]any) {
		code, _, body := raw(t, s, tok, "POST", "/invitations", `{"invitedUserEmailAddress":"`+addr+`","inviteRedirectUrl":"https://myapps.microsoft.com"}`)
		return code, body
	}
	if err := ten.SetCollaboration([]string{"a.example"}, []string{"b.example"}); err == nil {
		t.Fatal("allow and deny list together accepted")
	}
	steps := []struct {
		allowed, blocked []string
		addr             string
		want             int
	}{
		{nil, nil, "x@any.example", 201},
		{nil, []string{"Blocked.example"}, "x@blocked.example", 400},
		{nil, []string{"blocked.example"}, "x@sub.blocked.example", 201},
		{nil, []string{"blocked.example"}, "y@fine.example", 201},
		{[]string{"partner.example"}, nil, "x@partner.example", 201},
		{[]string{"partner.example"}, nil, "x@other.example", 400},
		{[]string{"partner.example"}, nil, "y@any.example", 400}, // also blocks re-invitations
	}
	for _, st := range steps {
		if err := ten.SetCollaboration(st.allowed, st.blocked); err != nil {
			t.Fatal(err)
		}
		code, body := inv(st.addr)
		if code != st.want {
			t.Errorf("allowed %v blocked %v invite %s: %d, want %d (%v)", st.allowed, st.blocked, st.addr, code, st.want, body)
		}
		if code == 400 && (errCode(body) != codeBadRequest || !strings.Contains(errMessage(body), "external collaboration settings")) {
			t.Errorf("refusal shape: %v", body)
		}
	}
	// An address in one of the tenant's verified domains is not external.
	_ = ten.SetCollaboration(nil, nil)
	if err := ten.AddDomain("fabrikam.example", true); err != nil {
		t.Fatal(err)
	}
	if code, _ := inv("x@fabrikam.example"); code != 400 {
		t.Fatalf("invite into own verified domain: %d", code)
	}
}

func TestAdminRoleHolders(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 7})
	ten := s.Tenant("contoso")
	admin, _ := ten.AddUser(map[string]any{"displayName": "Admin Ann"})
	plain, _ := ten.AddUser(map[string]any{"displayName": "Plain Pat"})
	boss, _ := ten.AddUser(map[string]any{"displayName": "Boss Bo"})
	if err := ten.AssignAdminRole(admin); err != nil {
		t.Fatal(err)
	}
	if err := ten.AssignAdminRole("nobody"); err == nil {
		t.Fatal("AssignAdminRole of an unknown user")
	}
	ref := `{"@odata.id":"` + s.GraphURL() + `/users/` + boss + `"}`
	writes := []struct{ method, path, body string }{
		{"PATCH", "/users/%s", `{"jobTitle":"x"}`},
		{"PUT", "/users/%s/manager/$ref", ref},
		{"DELETE", "/users/%s/manager/$ref", ""},
		{"DELETE", "/users/%s", ""},
	}
	def := accessToken(t, s, "contoso")
	priv := appToken(t, s, "contoso", "User.ReadWrite.All", RolePrivilegedAuthAdmin)
	for _, w := range writes {
		for _, who := range []string{admin, plain} {
			code, _, body := raw(t, s, def, w.method, strings.Replace(w.path, "%s", who, 1), w.body)
			want := []int{204}
			if who == admin {
				want = []int{403}
			}
			if w.method == "DELETE" && strings.Contains(w.path, "manager") && who == plain {
				want = []int{204, 404} // no manager yet is Graph's 404
			}
			if !slices.Contains(want, code) {
				t.Errorf("%s %s as default app on %s: %d, want %v (%v)", w.method, w.path, who, code, want, body)
			}
			if code == 403 && (errCode(body) != codeDenied || errMessage(body) != "Insufficient privileges to complete the operation.") {
				t.Errorf("403 shape: %v", body)
			}
		}
		// An app holding the privileged role may.
		code, _, body := raw(t, s, priv, w.method, strings.Replace(w.path, "%s", admin, 1), w.body)
		if code != 204 {
			t.Errorf("%s %s with %s: %d (%v)", w.method, w.path, RolePrivilegedAuthAdmin, code, body)
		}
	}
	// The admin is now soft-deleted: restoring it needs the role too.
	restore := "/directory/deletedItems/" + admin + "/restore"
	if code, _, body := raw(t, s, def, "POST", restore, ""); code != 403 || errCode(body) != codeDenied {
		t.Fatalf("restore of a deleted admin by the default app: %d %v", code, body)
	}
	if code, _, body := raw(t, s, appToken(t, s, "contoso", PermDeleteRestore, RolePrivilegedAuthAdmin), "POST", restore, ""); code != 200 {
		t.Fatalf("restore of a deleted admin with the role: %d %v", code, body)
	}
}

func TestDeletedItemsNeedDeleteRestore(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 8})
	ten := s.Tenant("contoso")
	var ids []string
	for _, n := range []string{"Del One", "Del Two", "Del Three"} {
		id, _ := ten.AddUser(map[string]any{"displayName": n})
		_ = ten.SoftDelete(id)
		ids = append(ids, id)
	}
	rw := appToken(t, s, "contoso", "User.ReadWrite.All", "Directory.ReadWrite.All")
	def := accessToken(t, s, "contoso")
	cases := []struct {
		tok, method, path string
		want              int
	}{
		{rw, "POST", "/directory/deletedItems/" + ids[0] + "/restore", 403},
		{rw, "DELETE", "/directory/deletedItems/" + ids[1], 403},
		{rw, "GET", "/directory/deletedItems/" + ids[1], 200}, // reading stays with User.ReadWrite.All
		{def, "POST", "/directory/deletedItems/" + ids[0] + "/restore", 200},
		{def, "DELETE", "/directory/deletedItems/" + ids[1], 204},
	}
	for _, c := range cases {
		code, _, body := raw(t, s, c.tok, c.method, c.path, "")
		if code != c.want {
			t.Errorf("%s %s: %d, want %d (%v)", c.method, c.path, code, c.want, body)
		}
		if code == 403 && errCode(body) != codeDenied {
			t.Errorf("403 code %v", body)
		}
	}
	// Restoring a user whose mail another live user took meanwhile fails
	// with the proxyAddresses conflict.
	gone, _ := ten.AddUser(map[string]any{"displayName": "Gone Gail", "mail": "gail@partner.example"})
	_ = ten.SoftDelete(gone)
	taker, _ := ten.AddUser(map[string]any{"displayName": "Taker Tom"})
	if code, _, body := raw(t, s, def, "PATCH", "/users/"+taker, `{"mail":"gail@partner.example"}`); code != 204 {
		t.Fatalf("taking a deleted user's mail: %d %v", code, body)
	}
	code, _, body := raw(t, s, def, "POST", "/directory/deletedItems/"+gone+"/restore", "")
	if code != 400 || !strings.Contains(errMessage(body), "proxyAddresses") {
		t.Fatalf("restore over a taken mail: %d %v", code, body)
	}
	if !slices.Contains(DefaultPermissions, PermDeleteRestore) || !slices.Contains(DefaultPermissions, "Domain.Read.All") {
		t.Fatalf("DefaultPermissions %v", DefaultPermissions)
	}
}

func TestShowInAddressList(t *testing.T) {
	s := startSim(t, Options{Users: 2, Seed: 9})
	tok := accessToken(t, s, "contoso")
	id := s.Tenant("contoso").Users()[0].ID
	_, _, body := raw(t, s, tok, "GET", "/users/delta?$select=displayName,showInAddressList", "")
	for _, v := range body["value"].([]any) {
		if _, has := v.(map[string]any)["showInAddressList"]; has {
			t.Fatalf("showInAddressList in delta: %v", v)
		}
	}
	link := body["@odata.deltaLink"].(string)
	if code, _, b := raw(t, s, tok, "PATCH", "/users/"+id, `{"showInAddressList":false}`); code != 204 {
		t.Fatalf("PATCH showInAddressList: %d %v", code, b)
	}
	code, _, body := raw(t, s, tok, "GET", "/users/"+id+"?$select=id,showInAddressList", "")
	if v, has := body["showInAddressList"]; code != 200 || !has || v != nil {
		t.Fatalf("read back: %d %v", code, body)
	}
	_, _, body = raw(t, s, tok, "GET", link, "")
	if vals := body["value"].([]any); len(vals) != 0 {
		t.Fatalf("a showInAddressList change surfaced in delta: %v", vals)
	}
}

func TestDeltaManager(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 10})
	ten := s.Tenant("contoso")
	boss, _ := ten.AddUser(map[string]any{"displayName": "Boss"})
	boss2, _ := ten.AddUser(map[string]any{"displayName": "Boss Two"})
	emp, _ := ten.AddUser(map[string]any{"displayName": "Emp", "manager": boss})
	loner, _ := ten.AddUser(map[string]any{"displayName": "Loner"})
	tok := accessToken(t, s, "contoso")
	round := func(path string) (map[string]map[string]any, string) {
		t.Helper()
		code, _, body := raw(t, s, tok, "GET", path, "")
		if code != 200 {
			t.Fatalf("delta %s: %d %v", path, code, body)
		}
		out := map[string]map[string]any{}
		for _, v := range body["value"].([]any) {
			m := v.(map[string]any)
			out[m["id"].(string)] = m
		}
		return out, body["@odata.deltaLink"].(string)
	}
	mgrDelta := func(m map[string]any) []any { l, _ := m["manager@delta"].([]any); return l }

	withMgr, linkMgr := round("/users/delta?$select=displayName,manager")
	noMgr, linkNo := round("/users/delta?$select=displayName")
	// Initial round: manager@delta for every user with a manager, only then.
	if l := mgrDelta(withMgr[emp]); len(l) != 1 || l[0].(map[string]any)["id"] != boss || l[0].(map[string]any)["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("initial manager@delta: %v", withMgr[emp])
	}
	if _, has := withMgr[loner]["manager@delta"]; has {
		t.Fatalf("manager@delta for a user without manager: %v", withMgr[loner])
	}
	if _, has := noMgr[emp]["manager@delta"]; has {
		t.Fatal("manager@delta without manager selected")
	}

	// A manager-only change surfaces only where manager is selected.
	_ = ten.UpdateUser(emp, map[string]any{"manager": boss2})
	withMgr, linkMgr = round(linkMgr)
	noMgr, linkNo = round(linkNo)
	if l := mgrDelta(withMgr[emp]); len(withMgr) != 1 || len(l) != 1 || l[0].(map[string]any)["id"] != boss2 {
		t.Fatalf("manager change: %v", withMgr)
	}
	if len(noMgr) != 0 {
		t.Fatalf("manager change surfaced without manager selected: %v", noMgr)
	}

	// Removing the manager reports the old one as removed.
	_ = ten.UpdateUser(emp, map[string]any{"manager": nil})
	withMgr, linkMgr = round(linkMgr)
	l := mgrDelta(withMgr[emp])
	if len(l) != 1 || l[0].(map[string]any)["id"] != boss2 {
		t.Fatalf("manager removal: %v", withMgr)
	}
	if r, _ := l[0].(map[string]any)["@removed"].(map[string]any); r["reason"] != "deleted" {
		t.Fatalf("manager removal shape: %v", l)
	}

	// An unselected property change surfaces nowhere.
	_ = ten.UpdateUser(emp, map[string]any{"department": "Elsewhere"})
	withMgr, _ = round(linkMgr)
	noMgr, _ = round(linkNo)
	if len(withMgr) != 0 || len(noMgr) != 0 {
		t.Fatalf("unselected change surfaced: %v %v", withMgr, noMgr)
	}
}

func TestDomains(t *testing.T) {
	s := startSim(t, Options{Users: 0, Seed: 11})
	ten := s.Tenant("contoso")
	tok := accessToken(t, s, "contoso")
	if err := ten.AddDomain("contoso.example", true); err != nil {
		t.Fatal(err)
	}
	if err := ten.AddDomain("pending.example", false); err != nil {
		t.Fatal(err)
	}
	if err := ten.AddDomain("no dots", true); err == nil {
		t.Fatal("invalid domain accepted")
	}
	code, _, body := raw(t, s, tok, "GET", "/domains", "")
	if code != 200 {
		t.Fatalf("GET /domains: %d %v", code, body)
	}
	got := map[string]map[string]any{}
	for _, v := range body["value"].([]any) {
		m := v.(map[string]any)
		got[m["id"].(string)] = m
	}
	want := map[string][2]bool{ // isVerified, isDefault
		"contoso.onmicrosoft.com": {true, true},
		"contoso.example":         {true, false},
		"pending.example":         {false, false},
	}
	if len(got) != len(want) {
		t.Fatalf("domains: %v", got)
	}
	for name, w := range want {
		d := got[name]
		if d == nil || d["isVerified"] != w[0] || d["isDefault"] != w[1] || d["authenticationType"] != "Managed" {
			t.Errorf("domain %s: %v", name, d)
		}
	}
	if code, _, _ := raw(t, s, tok, "GET", "/domains/contoso.example", ""); code != 200 {
		t.Fatalf("GET /domains/{id}: %d", code)
	}
	code, _, body = raw(t, s, tok, "GET", "/domains?$select=id,isVerified", "")
	if v, _ := body["value"].([]any); code != 200 || len(v) != 3 || len(v[0].(map[string]any)) != 2 {
		t.Fatalf("$select on domains: %d %v", code, body)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/domains?$select=nosuch", ""); code != 400 {
		t.Fatalf("unknown $select on domains: %d", code)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/domains/nope.example", ""); code != 404 {
		t.Fatalf("GET unknown domain: %d", code)
	}
	// Least privileged: Domain.Read.All; User.ReadWrite.All alone is refused.
	if code, _, _ := raw(t, s, appToken(t, s, "contoso", "User.ReadWrite.All"), "GET", "/domains", ""); code != 403 {
		t.Fatalf("GET /domains without Domain.Read.All: %d", code)
	}
	// A verified custom domain works in userPrincipalName; an unverified one does not.
	for dom, want := range map[string]int{"contoso.example": 201, "pending.example": 400} {
		code, _, body := raw(t, s, tok, "POST", "/users", `{"accountEnabled":true,"displayName":"D","mailNickname":"d`+dom[:3]+`","userPrincipalName":"d@`+dom+`","passwordProfile":{"password":"x1!Aaaaa"}}`)
		if code != want {
			t.Errorf("UPN in %s: %d, want %d (%v)", dom, code, want, body)
		}
	}
}
