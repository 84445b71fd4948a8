package graphsim

import (
	"net/url"
	"slices"
	"testing"
)

// members returns the value list of GET .../multiTenantOrganization/tenants.
func mtoMembers(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	l, ok := body["value"].([]any)
	if !ok {
		t.Fatalf("no value: %v", body)
	}
	var out []map[string]any
	for _, x := range l {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestMTODefault: every simulated tenant is an active member of one MTO,
// the first its owner; each tenant reads the same members, shaped as
// Graph v1.0 documents them, and its own MTO object ID.
func TestMTODefault(t *testing.T) {
	s := startSim(t, Options{Users: 1})
	con, fab := s.Tenant("contoso"), s.Tenant("fabrikam")
	tok := accessToken(t, s, "contoso")
	code, _, body := raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization", "")
	if code != 200 || body["state"] != "active" || body["displayName"] != "Contoso organization" ||
		body["createdDateTime"] != "2024-05-26T22:05:23Z" || body["id"] == nil || body["description"] == nil {
		t.Fatalf("GET MTO: %d %v", code, body)
	}
	_, _, fabBody := raw(t, s, accessToken(t, s, "fabrikam"), "GET", "/tenantRelationships/multiTenantOrganization", "")
	if fabBody["id"] == body["id"] || fabBody["displayName"] != body["displayName"] {
		t.Errorf("the MTO's ID is tenant-specific, its name is not: %v vs %v", fabBody, body)
	}
	code, _, body = raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization/tenants", "")
	ms := mtoMembers(t, body)
	if code != 200 || len(ms) != 3 {
		t.Fatalf("members: %d %v", code, body)
	}
	keys := []string{"tenantId", "displayName", "addedDateTime", "joinedDateTime", "addedByTenantId", "role", "state", "transitionDetails"}
	for i, m := range ms {
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("member %d lacks %s: %v", i, k, m)
			}
		}
		if len(m) != len(keys) || m["state"] != "active" || m["addedByTenantId"] != con.ID() || m["transitionDetails"] != nil || m["joinedDateTime"] == nil {
			t.Errorf("member %d: %v", i, m)
		}
	}
	if ms[0]["tenantId"] != con.ID() || ms[0]["role"] != "owner" || ms[1]["tenantId"] != fab.ID() || ms[1]["role"] != "member" || ms[1]["displayName"] != "Fabrikam" {
		t.Errorf("owner and members: %v", ms)
	}
}

// TestMTOStatesAndFilter: pending, removed and foreign members are listed
// with their state; $filter and $select work; a tenant taken out of the
// MTO reads it as inactive.
func TestMTOStatesAndFilter(t *testing.T) {
	s := startSim(t, Options{Users: 1})
	const ext = "5036a0a0-a7a4-4933-9086-5dd54535dd6e"
	if err := s.SetMTOMemberState("fabrikam", MTOPending); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMTOMemberState("northwind", MTORemoved); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMTOMember(ext, "Woodgrove Bank", MTOActive); err != nil {
		t.Fatal(err)
	}
	if s.SetMTOMemberState("fabrikam", "gone") == nil || s.AddMTOMember("x", "X", MTOActive) == nil || s.AddMTOMember(ext, "again", MTOActive) == nil {
		t.Error("bad state, bad ID or a duplicate accepted")
	}
	tok := accessToken(t, s, "contoso")
	_, _, body := raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization/tenants", "")
	ms := mtoMembers(t, body)
	if len(ms) != 4 || ms[1]["state"] != "pending" || ms[1]["joinedDateTime"] != nil || ms[2]["state"] != "removed" ||
		ms[3]["tenantId"] != ext || ms[3]["displayName"] != "Woodgrove Bank" {
		t.Fatalf("members: %v", ms)
	}
	if td, _ := ms[2]["transitionDetails"].(map[string]any); td["desiredState"] != "removed" || td["status"] != "running" {
		t.Errorf("removed member's transitionDetails: %v", ms[2])
	}
	q := "/tenantRelationships/multiTenantOrganization/tenants?$filter=" + url.QueryEscape("state eq 'active'") + "&$select=tenantId,displayName"
	code, _, body := raw(t, s, tok, "GET", q, "")
	ms = mtoMembers(t, body)
	if code != 200 || len(ms) != 2 || len(ms[0]) != 2 || ms[0]["displayName"] != "Contoso" || ms[1]["tenantId"] != ext {
		t.Errorf("filtered and selected: %d %v", code, body)
	}
	for _, bad := range []string{"?$filter=" + url.QueryEscape("state ne 'active'"), "?$select=nope", "?$top=1"} {
		if code, _, body := raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization/tenants"+bad, ""); code != 400 {
			t.Errorf("%s: %d %v", bad, code, body)
		}
	}
	if err := s.RemoveMTOMember("contoso"); err != nil {
		t.Fatal(err)
	}
	_, _, body = raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization", "")
	if body["state"] != "inactive" || body["displayName"] != nil {
		t.Errorf("removed tenant's MTO: %v", body)
	}
	_, _, body = raw(t, s, tok, "GET", "/tenantRelationships/multiTenantOrganization/tenants", "")
	if ms := mtoMembers(t, body); len(ms) != 0 {
		t.Errorf("removed tenant lists members: %v", ms)
	}
}

// TestMTOPermissions: without a permission the endpoints answer 403;
// ReadBasic.All lists only active members, with tenantId and displayName.
func TestMTOPermissions(t *testing.T) {
	s := startSim(t, Options{Users: 1})
	if err := s.SetMTOMemberState("fabrikam", MTOPending); err != nil {
		t.Fatal(err)
	}
	none := appToken(t, s, "contoso", "User.Read.All")
	for _, p := range []string{"/tenantRelationships/multiTenantOrganization", "/tenantRelationships/multiTenantOrganization/tenants",
		"/tenantRelationships/findTenantInformationByTenantId(tenantId='" + s.Tenant("fabrikam").ID() + "')"} {
		if code, _, body := raw(t, s, none, "GET", p, ""); code != 403 || errCode(body) != codeDenied {
			t.Errorf("%s without permission: %d %v", p, code, body)
		}
	}
	basic := appToken(t, s, "contoso", PermReadMTOBasic)
	if code, _, _ := raw(t, s, basic, "GET", "/tenantRelationships/multiTenantOrganization", ""); code != 403 {
		t.Errorf("GET MTO with ReadBasic.All: %d", code)
	}
	code, _, body := raw(t, s, basic, "GET", "/tenantRelationships/multiTenantOrganization/tenants", "")
	ms := mtoMembers(t, body)
	if code != 200 || len(ms) != 2 || len(ms[0]) != 2 || ms[1]["displayName"] != "Northwind" {
		t.Errorf("ReadBasic.All: %d %v", code, body)
	}
	full := appToken(t, s, "contoso", "MultiTenantOrganization.Read.All")
	if code, _, body := raw(t, s, full, "GET", "/tenantRelationships/multiTenantOrganization/tenants", ""); code != 200 || len(mtoMembers(t, body)) != 3 {
		t.Errorf("Read.All: %d %v", code, body)
	}
	if !slices.Contains(DefaultPermissions, "MultiTenantOrganization.Read.All") || !slices.Contains(DefaultPermissions, "CrossTenantInformation.ReadBasic.All") {
		t.Errorf("DefaultPermissions %v", DefaultPermissions)
	}
}

// TestFindTenantInformation: another tenant's name and default domain by
// its ID; an unknown tenant is 404, a malformed call 400.
func TestFindTenantInformation(t *testing.T) {
	s := startSim(t, Options{Users: 1})
	tok := accessToken(t, s, "contoso")
	fab := s.Tenant("fabrikam")
	code, _, body := raw(t, s, tok, "GET", "/tenantRelationships/findTenantInformationByTenantId(tenantId='"+fab.ID()+"')", "")
	if code != 200 || body["tenantId"] != fab.ID() || body["defaultDomainName"] != "fabrikam.onmicrosoft.com" || body["displayName"] != "Fabrikam" {
		t.Errorf("tenant information: %d %v", code, body)
	}
	if code, _, _ := raw(t, s, tok, "GET", "/tenantRelationships/findTenantInformationByTenantId(tenantId='5036a0a0-a7a4-4933-9086-5dd54535dd6e')", ""); code != 404 {
		t.Errorf("unknown tenant: %d", code)
	}
	for _, bad := range []string{"findTenantInformationByTenantId(tenantId='nope')", "somethingElse"} {
		if code, _, _ := raw(t, s, tok, "GET", "/tenantRelationships/"+url.PathEscape(bad), ""); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}
