package graphsim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/microsoftgraph/msgraph-sdk-go/invitations"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func TestAuthErrors(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 3, Seed: 4, Now: clock.Now})
	ctx := context.Background()

	// 401: missing, malformed, foreign (another simulator's key) tokens.
	other := startSim(t, Options{Users: 1, Seed: 4})
	foreign := accessToken(t, other, "contoso")
	for name, tok := range map[string]string{"missing": "", "malformed": "abc", "foreign": foreign} {
		code, h, body := raw(t, s, tok, "GET", "/users", "")
		e, _ := body["error"].(map[string]any)
		if code != 401 || e["code"] != "InvalidAuthenticationToken" || h.Get("request-id") == "" || h.Get("client-request-id") == "" {
			t.Errorf("%s token: %d %v", name, code, body)
		}
		inner, _ := e["innerError"].(map[string]any)
		if inner["request-id"] == nil || inner["date"] == nil {
			t.Errorf("%s: innerError incomplete: %v", name, e)
		}
	}

	// 401 through the SDK once the token expired (the credential caches it
	// by the real clock; the simulator judges expiry by its own).
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	if _, err := ub.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	_, err := ub.Get(ctx, nil)
	wantStatus(t, err, http.StatusUnauthorized, "InvalidAuthenticationToken")

	// 403: an app without permissions, and one that may read but not invite.
	clock.Advance(-2 * time.Hour)
	ten := s.Tenant("contoso")
	id, secret := ten.AddApp()
	weak := users.NewUsersRequestBuilderInternal(baseParams(s), adapter(t, s, secretCredential(t, s, "contoso", id, secret)))
	_, err = weak.Get(ctx, nil)
	wantStatus(t, err, http.StatusForbidden, "Authorization_RequestDenied")
	rid, rsecret := ten.AddApp("User.Read.All")
	ra := adapter(t, s, secretCredential(t, s, "contoso", rid, rsecret))
	if _, err := users.NewUsersRequestBuilderInternal(baseParams(s), ra).Get(ctx, nil); err != nil {
		t.Fatalf("read-only app read: %v", err)
	}
	_, err = invitations.NewInvitationsRequestBuilderInternal(baseParams(s), ra).Post(ctx, newInvitation("z@partner.example"), nil)
	wantStatus(t, err, http.StatusForbidden, "Authorization_RequestDenied")

	// Tenant isolation: a fabrikam token never sees contoso's users.
	cid := ten.Users()[0].ID
	fab := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "fabrikam"))
	_, err = fab.ByUserId(cid).Get(ctx, nil)
	wantStatus(t, err, http.StatusNotFound, "Request_ResourceNotFound")

	// Wrong secret: the credential fails at the token endpoint.
	bad := secretCredential(t, s, "contoso", ten.ClientID(), "wrong")
	if _, err := bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err == nil || !strings.Contains(err.Error(), "7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	// A certificate registered on contoso's app does not open fabrikam's.
	if _, err := certCredential(t, s, "contoso").GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err != nil {
		t.Fatalf("certificate credential: %v", err)
	}
}

func TestStateFilesAndInfo(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, Options{Users: 2, StateDir: dir, Tenants: []string{"alpha", "beta"}})
	info := s.Info()
	b, _ := json.Marshal(info)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"authority", "graph", "ca_file", "tenants"} {
		if m[k] == nil {
			t.Fatalf("info lacks %s: %s", k, b)
		}
	}
	tn := m["tenants"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "tenant_id", "domain", "client_id", "client_secret", "cert_file", "key_file"} {
		if tn[k] == nil || tn[k] == "" {
			t.Fatalf("tenant info lacks %s: %s", k, b)
		}
	}
	if tn["domain"] != "alpha.onmicrosoft.com" {
		t.Fatalf("domain %v", tn["domain"])
	}
	st, err := os.Stat(dir + "/alpha.secret")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", err, st)
	}
	sec, _ := os.ReadFile(dir + "/alpha.secret")
	if string(sec) != info.Tenants[0].ClientSecret {
		t.Fatal("secret file content differs from Info")
	}
	for _, f := range []string{"ca.pem", "alpha.cert.pem", "alpha.key.pem", "beta.secret"} {
		if _, err := os.Stat(dir + "/" + f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// The OpenID configuration azidentity reads.
	resp, err := s.HTTPClient().Get(s.AuthorityURL() + "/" + info.Tenants[0].TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	if cfg["token_endpoint"] != s.URL()+"/"+info.Tenants[0].TenantID+"/oauth2/v2.0/token" || cfg["issuer"] == nil || cfg["authorization_endpoint"] == nil {
		t.Fatalf("openid configuration: %v", cfg)
	}
}
