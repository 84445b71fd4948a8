package tenants

import (
	"context"
	"testing"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSignedIn: a client is signed in once its credential obtained a
// token, never with a wrong secret, and not before its first call.
func TestSignedIn(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"}})
	good := simClient(t, s, "contoso", nil)
	if good.SignedIn() {
		t.Fatal("signed in before any call")
	}
	if _, err := good.Source().User(context.Background(), "nobody", nil); err == nil {
		t.Fatal("a user that does not exist was found")
	}
	if !good.SignedIn() {
		t.Error("not signed in after a call that got a token (and a 404)")
	}
	t.Setenv("CTSYNC_TEST_SECRET", "wrong-s3cr3t-value")
	bad := simClient(t, s, "contoso", func(c *Config, _ *Options) {
		c.SecretFile, c.SecretEnv = "", "CTSYNC_TEST_SECRET"
		c.Retry.MaxAttempts = 1
	})
	if _, err := bad.Source().User(context.Background(), "nobody", nil); err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	if bad.SignedIn() {
		t.Error("signed in with a wrong secret")
	}
}
