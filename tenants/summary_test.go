package tenants

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestGraphErrorSummary: the one-line form keeps tenant, operation,
// status, code and the message's first line, and drops the request ID.
func TestGraphErrorSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *GraphError
		want string
	}{
		{"graph answer", &GraphError{Tenant: "a", Op: "GET /users/{id}", Status: 404, Code: "Request_ResourceNotFound", Message: "Resource 'x' does not exist.", RequestID: "r-1"},
			`tenant "a": GET /users/{id}: 404 Request_ResourceNotFound: Resource 'x' does not exist.`},
		{"multi-line message", &GraphError{Tenant: "a", Op: "POST /invitations", Status: 400, Code: "BadRequest", Message: "first\nsecond\nthird"},
			`tenant "a": POST /invitations: 400 BadRequest: first …`},
		{"no answer", &GraphError{Tenant: "a", Op: "GET /users/delta", Err: errors.New("dial tcp: connection refused\nmore")},
			`tenant "a": GET /users/delta: dial tcp: connection refused …`},
		{"credential", &GraphError{Tenant: "a", Op: "GET /users", Err: &CredentialError{Tenant: "a", Kind: "client_secret", Err: errors.New("ClientSecretCredential: authentication failed:\n-----\nRESPONSE 401")}},
			`tenant "a": GET /users: tenant "a": client_secret credential: ClientSecretCredential: authentication failed: …`},
		{"nothing known", &GraphError{Tenant: "a", Op: "GET /x"}, `tenant "a": GET /x: failed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Summary(); got != tc.want {
				t.Errorf("Summary() = %q, want %q", got, tc.want)
			}
		})
	}
	long := &GraphError{Tenant: "a", Op: "GET /x", Status: 500, Message: strings.Repeat("é", 400)}
	if s := long.Summary(); len(s) > summaryMax+100 || !strings.HasSuffix(s, " …") {
		t.Errorf("long message not cut: %d bytes", len(s))
	}
}

// TestSimBadSecretSummary: Azure's multi-line dump of a refused secret
// condenses to one line with the OAuth error and the AADSTS text.
func TestSimBadSecretSummary(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	t.Setenv("CTSYNC_TEST_SECRET", "wrong-s3cr3t-value")
	c := simClient(t, s, "contoso", func(c *Config, _ *Options) {
		c.SecretFile, c.SecretEnv = "", "CTSYNC_TEST_SECRET"
		c.Retry.MaxAttempts = 1
	})
	_, err := c.Source().User(context.Background(), "nobody", nil)
	var ge *GraphError
	if !errors.As(err, &ge) {
		t.Fatalf("err %T %v", err, err)
	}
	sum := ge.Summary()
	if strings.ContainsAny(sum, "\r\n") || !strings.Contains(sum, "client_secret credential: 401 invalid_client") {
		t.Errorf("summary %q\nof %q", sum, err)
	}
	t.Logf("full: %q\nsummary: %q", err, sum)
}
