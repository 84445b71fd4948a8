package tenants

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimCredentials signs in with each credential kind the simulator
// supports, through azidentity and the real SDK, and reads a user.
func TestSimCredentials(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	id, err := s.Tenant("contoso").AddUser(map[string]any{"displayName": "Ann Lee", "mail": "ann@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(s.SecretFile("contoso"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CTSYNC_TEST_SECRET", strings.TrimSpace(string(secret)))
	kinds := map[string]func(*Config, *Options){
		"secret file": nil,
		"secret env": func(c *Config, _ *Options) {
			c.SecretFile, c.SecretEnv = "", "CTSYNC_TEST_SECRET"
		},
		"certificate PEM": func(c *Config, _ *Options) {
			c.Credential, c.SecretFile, c.CertificateFile = CredClientCertificate, "", certPEM(t, s, "contoso")
		},
	}
	for name, tweak := range kinds {
		t.Run(name, func(t *testing.T) {
			c := simClient(t, s, "contoso", tweak)
			u, err := c.Source().User(context.Background(), id, []string{directory.PropDisplayName})
			if err != nil {
				t.Fatal(err)
			}
			if u.Str(directory.PropDisplayName) != "Ann Lee" || u.Str(directory.PropMail) != "ann@contoso.com" {
				t.Fatalf("user %+v", u)
			}
		})
	}
}

// TestSimBadSecret: a wrong secret fails the call with a credential error
// naming tenant and kind, fatal for the pair, without the secret.
func TestSimBadSecret(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	t.Setenv("CTSYNC_TEST_SECRET", "wrong-s3cr3t-value")
	c := simClient(t, s, "contoso", func(c *Config, _ *Options) {
		c.SecretFile, c.SecretEnv = "", "CTSYNC_TEST_SECRET"
		c.Retry.MaxAttempts = 1
	})
	_, err := c.Source().User(context.Background(), "nobody", nil)
	var ce *CredentialError
	if !errors.As(err, &ce) || ce.Tenant != "contoso" || ce.Kind != CredClientSecret || !IsFatal(err) || IsTransient(err) {
		t.Fatalf("err %T %v", err, err)
	}
	if strings.Contains(err.Error(), "wrong-s3cr3t-value") {
		t.Fatalf("secret in error: %v", err)
	}
}

// TestSimUnauthorizedWithoutPermission: the Graph host is on the auth provider's
// allowed list, so requests carry a token (the SDK would silently send
// none to an unlisted host and get 401); a 401 would be fatal.
func TestSimUnauthorizedWithoutPermission(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	if st := s.Stats(); st.Unauthorized != 0 {
		t.Fatalf("unauthorized before: %d", st.Unauthorized)
	}
	c := simClient(t, s, "contoso", nil)
	if _, err := c.Source().User(context.Background(), "nobody@contoso.onmicrosoft.com", nil); !IsNotFound(err) {
		t.Fatalf("want 404, got %v", err)
	}
	if st := s.Stats(); st.Unauthorized != 0 {
		t.Fatalf("requests without a valid token: %d", st.Unauthorized)
	}
}
