package tenants

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestSimTokenFaults: a token endpoint failing every request (503/500
// temporarily_unavailable with Retry-After) outlasts azidentity's own
// retries; ctsync's call retries it as transient (never fatal) and
// succeeds once the endpoint recovers.
func TestSimTokenFaults(t *testing.T) {
	s := startSim(t, graphsim.Options{Tenants: []string{"contoso"},
		Realism: &graphsim.Realism{TokenFaultRate: 1}})
	id, err := s.Tenant("contoso").AddUser(map[string]any{"displayName": "Ann"})
	must(t, err)
	c := simClient(t, s, "contoso", func(c *Config, _ *Options) {
		c.Retry.BaseDelay, c.Retry.MaxDelay = 100*time.Millisecond, 200*time.Millisecond
		c.Retry.MaxAttempts = 1000
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Source().User(ctx, id, nil)
		done <- err
	}()
	// azidentity tries 4 times per token request; a 5th fault means
	// ctsync's own loop retried a transient credential failure
	for s.Stats().Tenant("contoso").TokenFaults < 5 {
		select {
		case err := <-done:
			t.Fatalf("call ended while the token endpoint was failing: %v (fatal %v)", err, errors.Is(err, directory.ErrFatal))
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.SetRealism(graphsim.Realism{})
	if err := <-done; err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
