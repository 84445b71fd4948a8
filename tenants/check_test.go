package tenants

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestCheckSignIn signs in through the configured credential, reads the
// granted permissions from the token, and condenses each refusal the
// token endpoint gives for a common mistake to its AADSTS code.
func TestCheckSignIn(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso", "fabrikam"}})
	ctx := context.Background()
	cfg := simConfig(t, s, "contoso")
	tok, err := SignIn(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Decoded || !slices.Equal(tok.Roles, slices.Sorted(slices.Values(graphsim.DefaultPermissions))) ||
		tok.TenantID != cfg.TenantID || tok.AppID != cfg.ClientID {
		t.Fatalf("token %+v", tok)
	}
	ten := s.Tenant("contoso")
	if err := ten.RevokePermissions(ten.ClientID(), "User.Invite.All"); err != nil {
		t.Fatal(err)
	}
	if tok, err = SignIn(ctx, cfg, Options{}); err != nil || slices.Contains(tok.Roles, "User.Invite.All") {
		t.Fatalf("after revoking: %v %v", tok.Roles, err)
	}

	secret := ten.ClientSecret()
	cases := []struct {
		name  string
		tweak func(*Config)
		code  int
		first string
	}{
		{"wrong secret", func(c *Config) { c.SecretFile, c.SecretEnv = "", "CTSYNC_CHECK_SECRET" }, 7000215, "Invalid client secret provided."},
		{"unknown app", func(c *Config) { c.ClientID = "00000000-0000-4000-8000-000000000001" }, 700016, "Application with identifier"},
		{"unknown tenant", func(c *Config) { c.TenantID = "00000000-0000-4000-8000-000000000002" }, 90002, "Tenant '00000000-0000-4000-8000-000000000002' not found."},
		{"unreadable secret file", func(c *Config) { c.SecretFile = t.TempDir() + "/none" }, 0, "read secret file"},
	}
	t.Setenv("CTSYNC_CHECK_SECRET", "not-the-secret")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.tweak(&c)
			_, err := SignIn(ctx, c, Options{})
			f, ok := DescribeCredentialFailure(err)
			if !ok || f.Code != tc.code || !strings.HasPrefix(f.Description, tc.first) || f.Tenant != "contoso" || f.Transient {
				t.Fatalf("failure %+v (%v)", f, err)
			}
			if strings.Contains(f.Description, "Trace ID") || strings.Contains(f.Description, secret) {
				t.Fatalf("description says too much: %q", f.Description)
			}
		})
	}
	t.Run("expired secret", func(t *testing.T) {
		fab := s.Tenant("fabrikam")
		if err := fab.ExpireSecret(fab.ClientID()); err != nil {
			t.Fatal(err)
		}
		_, err := SignIn(ctx, simConfig(t, s, "fabrikam"), Options{})
		if f, ok := DescribeCredentialFailure(err); !ok || f.Code != 7000222 || f.Status != 401 || f.OAuthError != "invalid_client" {
			t.Fatalf("failure %+v (%v)", f, err)
		}
	})
}

// TestCheckPolicies reads the authorization and cross-tenant access
// policies through the SDK's request builders: the simulator's defaults,
// then settings a test changed.
func TestCheckPolicies(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso", "fabrikam"}})
	ctx := context.Background()
	fab := s.Tenant("fabrikam")
	if err := fab.GrantPermissions(fab.ClientID(), "Policy.Read.All"); err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, "fabrikam", nil)
	src := s.Tenant("contoso").ID()

	ap, err := c.AuthorizationPolicy(ctx)
	if err != nil || ap.AllowInvitesFrom != "everyone" {
		t.Fatalf("authorization policy %+v %v", ap, err)
	}
	def, err := c.CrossTenantDefault(ctx)
	if err != nil || def.Users == nil || def.Users.Access != "allowed" || !slices.Equal(def.Users.Targets, []string{"AllUsers"}) ||
		def.Applications == nil || def.Applications.Access != "allowed" || def.AutoRedeem == nil || *def.AutoRedeem {
		t.Fatalf("default %+v %v", def, err)
	}
	p, err := c.CrossTenantPartner(ctx, src)
	if err != nil || p == nil || p.Users != nil || p.AutoRedeem == nil || !*p.AutoRedeem {
		t.Fatalf("partner %+v %v", p, err)
	}
	if p, err := c.CrossTenantPartner(ctx, "00000000-0000-4000-8000-000000000003"); err != nil || p != nil {
		t.Fatalf("unknown partner: %+v %v", p, err)
	}

	if err := fab.SetAuthorizationPolicy(graphsim.InvitesFromNone); err != nil {
		t.Fatal(err)
	}
	if err := fab.SetCrossTenantDefault(graphsim.CrossTenantAccess{InboundUsers: "blocked", InboundApplications: "allowed"}); err != nil {
		t.Fatal(err)
	}
	no := false
	if err := fab.SetCrossTenantPartner(src, &graphsim.CrossTenantAccess{InboundUsers: "blocked", AutoRedeem: &no}); err != nil {
		t.Fatal(err)
	}
	if ap, err := c.AuthorizationPolicy(ctx); err != nil || ap.AllowInvitesFrom != "none" {
		t.Fatalf("authorization policy %+v %v", ap, err)
	}
	if def, err := c.CrossTenantDefault(ctx); err != nil || def.Users.Access != "blocked" {
		t.Fatalf("default %+v %v", def, err)
	}
	if p, err := c.CrossTenantPartner(ctx, src); err != nil || p == nil || p.Users == nil || p.Users.Access != "blocked" ||
		p.Applications != nil || p.AutoRedeem == nil || *p.AutoRedeem {
		t.Fatalf("partner %+v %v", p, err)
	}

	// Without Policy.Read.All: 403, naming nothing ctsync needs.
	if err := fab.RevokePermissions(fab.ClientID(), "Policy.Read.All"); err != nil {
		t.Fatal(err)
	}
	weak := simClient(t, s, "fabrikam", nil)
	if _, err := weak.AuthorizationPolicy(ctx); !IsForbidden(err) {
		t.Fatalf("without Policy.Read.All: %v", err)
	}
}

// TestCheckStampSlot counts the values in the stamp slot that are not
// ctsync stamps, and stops at its bound.
func TestCheckStampSlot(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}, Users: 5})
	ctx := context.Background()
	fab := s.Tenant("fabrikam")
	add := func(upn, slot string) {
		t.Helper()
		if _, err := fab.AddUser(map[string]any{"displayName": upn, "userPrincipalName": upn,
			"onPremisesExtensionAttributes": map[string]any{"extensionAttribute15": slot}}); err != nil {
			t.Fatal(err)
		}
	}
	c := simClient(t, s, "fabrikam", nil)
	scan, err := c.Target().ScanStampSlot(ctx, 1000)
	if err != nil || scan.Scanned != 0 || scan.Foreign != 0 || scan.Bounded || scan.Attribute != "extensionAttribute15" {
		t.Fatalf("empty slot: %+v %v", scan, err)
	}
	add("a@fabrikam.onmicrosoft.com", directory.Stamp("t1", "u1"))
	add("b@fabrikam.onmicrosoft.com", "cost-center-42")
	add("c@fabrikam.onmicrosoft.com", directory.Stamp("t1", "u2"))
	s.SettleIndexes()
	scan, err = c.Target().ScanStampSlot(ctx, 1000)
	if err != nil || scan.Scanned != 3 || scan.Stamped != 2 || scan.Foreign != 1 || scan.Example != "b@fabrikam.onmicrosoft.com" || scan.Bounded {
		t.Fatalf("scan %+v %v", scan, err)
	}
	small := simClient(t, s, "fabrikam", func(c *Config, _ *Options) { c.PageSize = 1 })
	if scan, err = small.Target().ScanStampSlot(ctx, 2); err != nil || scan.Scanned != 2 || !scan.Bounded {
		t.Fatalf("bounded scan %+v %v", scan, err)
	}
}
