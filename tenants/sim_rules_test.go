package tenants

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimDomains: GET /domains lists the initial and the verified custom
// domains, not an unverified one.
func TestSimDomains(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	ten := s.Tenant("contoso")
	must(t, ten.AddDomain("Contoso.com", true))
	must(t, ten.AddDomain("claimed.example", false))
	got, err := simClient(t, s, "contoso", nil).Source().Domains(context.Background())
	must(t, err)
	sort.Strings(got)
	want := []string{"contoso.com", strings.ToLower(ten.Domain())}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("domains %v, want %v", got, want)
	}
}

// TestSimForbiddenPermission: an app lacking a permission gets 403s naming
// it; a write to an admin-role holder names the privileged-role case.
func TestSimForbiddenPermission(t *testing.T) {
	ctx := context.Background()
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}})
	ten := s.Tenant("fabrikam")
	id, err := ten.AddUser(map[string]any{"displayName": "Guest", "userType": "Guest", "creationType": "Invitation"})
	must(t, err)
	clientID, secret := ten.AddApp("User.ReadWrite.All")
	t.Setenv("CTSYNC_TEST_LIMITED_SECRET", secret)
	limited := simClient(t, s, "fabrikam", func(c *Config, _ *Options) {
		c.ClientID, c.SecretFile, c.SecretEnv = clientID, "", "CTSYNC_TEST_LIMITED_SECRET"
	})
	tg := limited.Target()
	must(t, tg.SoftDelete(ctx, id))
	for name, tc := range map[string]struct {
		want string
		run  func() error
	}{
		"restore": {"User.DeleteRestore.All", func() error { return tg.Restore(ctx, id) }},
		"domains": {"Domain.Read.All", func() error { _, err := limited.Source().Domains(ctx); return err }},
	} {
		err := tc.run()
		if !errors.Is(err, directory.ErrForbidden) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a 403 naming %s", name, err, tc.want)
		}
	}

	// User.ReadWrite.All covers invitations too: an app without it
	clientID, secret = ten.AddApp()
	t.Setenv("CTSYNC_TEST_NONE_SECRET", secret)
	none := simClient(t, s, "fabrikam", func(c *Config, _ *Options) {
		c.ClientID, c.SecretFile, c.SecretEnv = clientID, "", "CTSYNC_TEST_NONE_SECRET"
	})
	_, err = none.Target().Invite(ctx, directory.Invitation{Email: "x@contoso.com"})
	if !errors.Is(err, directory.ErrForbidden) || !strings.Contains(err.Error(), "User.Invite.All") {
		t.Errorf("invite: %v, want a 403 naming User.Invite.All", err)
	}

	admin, err := ten.AddUser(map[string]any{"displayName": "Admin"})
	must(t, err)
	must(t, ten.AssignAdminRole(admin))
	err = simClient(t, s, "fabrikam", nil).Target().Update(ctx, admin, map[string]any{"jobTitle": "x"})
	if !errors.Is(err, directory.ErrForbidden) || !strings.Contains(err.Error(), "admin role") {
		t.Errorf("admin write: %v", err)
	}
}

// TestSimMailConflict: a PATCH of mail to an address another user holds
// in proxyAddresses is a conflict.
func TestSimMailConflict(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"fabrikam"}})
	ten := s.Tenant("fabrikam")
	_, err := ten.AddUser(map[string]any{"displayName": "Holder", "mail": "ann@contoso.com"})
	must(t, err)
	id, err := ten.AddUser(map[string]any{"displayName": "Guest", "userType": "Guest", "creationType": "Invitation"})
	must(t, err)
	err = simClient(t, s, "fabrikam", nil).Target().Update(context.Background(), id, map[string]any{"mail": "ann@contoso.com"})
	if !errors.Is(err, directory.ErrConflict) || !IsConflict(err) {
		t.Fatalf("err %v, want a conflict", err)
	}
}
