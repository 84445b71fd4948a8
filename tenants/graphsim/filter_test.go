package graphsim

import (
	"context"
	"net/http"
	"testing"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func TestFilterParser(t *testing.T) {
	cases := []struct {
		f        string
		ok       bool
		advanced bool
	}{
		{"mail eq 'a@b.com'", true, false},
		{"userType eq 'Guest' and (mail eq 'x@y.z' or startsWith(displayName,'O''Brien'))", true, false},
		{"otherMails/any(x:x eq 'a@b.com')", true, false},
		{"mail in ('a@b.com','c@d.com')", true, false},
		{"accountEnabled eq false", true, false},
		{"identities/any(c:c/issuer eq 'ExternalAzureAD')", true, false},
		{"mail ne 'a@b.com'", true, true},
		{"not (userType eq 'Guest')", true, true},
		{"endsWith(mail,'@contoso.com')", true, true},
		{"onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:b'", true, true},
		{"otherMails/$count eq 0", true, true},
		{"companyName eq null", true, true},
		{"mail eq 'unterminated", false, false},
		{"mail gt 'a'", false, false},
		{"nosuch eq 'a'", false, false},
		{"mail eq 1", false, false},
		{"accountEnabled eq 'true'", false, false},
		{"otherMails eq 'a'", false, false},
		{"mail/any(x:x eq 'a')", false, false},
		{"(mail eq 'a'", false, false},
		{"mail eq 'a' and", false, false},
		{"onPremisesExtensionAttributes/extensionAttribute16 eq 'a'", false, false},
		{"mail eq 'a' extra", false, false},
	}
	for _, c := range cases {
		fq, err := parseFilter(c.f)
		if (err == nil) != c.ok {
			t.Errorf("%q: err=%v, want ok=%v", c.f, err, c.ok)
			continue
		}
		if err == nil && (fq.advanced != "") != c.advanced {
			t.Errorf("%q: advanced=%q, want %v", c.f, fq.advanced, c.advanced)
		}
	}
}

func TestFiltersOverSDK(t *testing.T) {
	s := startSim(t, Options{Users: 20, Seed: 9})
	ten := s.Tenant("contoso")
	id, _ := ten.AddUser(map[string]any{"displayName": "Conor O'Brien", "mail": "conor.o'brien@partner.example",
		"otherMails": []string{"c@alt.example"}, "extensionAttribute15": "ctsync:src:1"})
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	ctx := context.Background()
	get := func(filter string, advanced bool) ([]string, error) {
		cfg := &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr(filter)}}
		if advanced {
			h := abs.NewRequestHeaders()
			h.Add("ConsistencyLevel", "eventual")
			cfg.Headers = h
			cfg.QueryParameters.Count = ptr(true)
		}
		resp, err := ub.Get(ctx, cfg)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, u := range resp.GetValue() {
			ids = append(ids, *u.GetId())
		}
		if advanced && (resp.GetOdataCount() == nil || int(*resp.GetOdataCount()) != len(ids)) {
			t.Errorf("@odata.count missing or wrong for %q", filter)
		}
		return ids, nil
	}
	for _, f := range []string{"mail eq 'Conor.O''Brien@partner.example'", "otherMails/any(x:x eq 'c@alt.example')", "startsWith(displayName,'conor o''')"} {
		ids, err := get(f, false)
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("%q: %v %v", f, ids, err)
		}
	}
	ext := "onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:src:1'"
	_, err := get(ext, false)
	wantStatus(t, err, http.StatusBadRequest, "Request_UnsupportedQuery")
	ids, err := get(ext, true)
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("advanced ext filter: %v %v", ids, err)
	}
	_, err = get("endsWith(mail,'.example')", false)
	wantStatus(t, err, http.StatusBadRequest, "Request_UnsupportedQuery")
	_, err = get("mail eq 'x' or", false)
	wantStatus(t, err, http.StatusBadRequest, "Request_UnsupportedQuery")

	// $top bounds; unknown $select. ($count=true without the header is
	// ignored, not refused: see TestFilterOperatorTable.)
	tok := accessToken(t, s, "contoso")
	for _, p := range []string{"/users?$top=1000", "/users?$top=0", "/users?$select=nosuch", "/users?$orderby=displayName"} {
		if code, _, _ := raw(t, s, tok, "GET", p, ""); code != 400 {
			t.Errorf("%s: %d, want 400", p, code)
		}
	}
	code, _, body := raw(t, s, tok, "GET", "/users?$select=displayName&$top=5", "")
	v := body["value"].([]any)[0].(map[string]any)
	if code != 200 || len(v) != 2 || v["id"] == nil || v["displayName"] == nil {
		t.Fatalf("$select shape: %v", v)
	}
	code, _, body = raw(t, s, tok, "GET", "/users?$top=1", "")
	v = body["value"].([]any)[0].(map[string]any)
	for _, hidden := range []string{"userType", "accountEnabled", "externalUserState", "creationType", "onPremisesExtensionAttributes", "manager"} {
		if _, ok := v[hidden]; ok {
			t.Errorf("%s returned without $select", hidden)
		}
	}
	if _, ok := v["userPrincipalName"]; !ok || body["@odata.context"] == nil {
		t.Errorf("default shape wrong: %v", body)
	}
}
