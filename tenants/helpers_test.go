package tenants

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeClock advances only when slept on; it records every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.sleeps = append(f.sleeps, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeClock) slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// staticToken is a credential for tests against a plain httptest server.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// stubClient returns a Client of the real SDK talking to a TLS httptest
// server run by h, with a fake clock.
func stubClient(t *testing.T, h http.HandlerFunc, tweak func(*Config)) (*Client, *fakeClock) {
	t.Helper()
	return stubClientWith(t, h, tweak, staticToken{})
}

// stubClientWith is stubClient signing in with cred.
func stubClientWith(t *testing.T, h http.HandlerFunc, tweak func(*Config), cred azcore.TokenCredential) (*Client, *fakeClock) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{
		Name: "stub", TenantID: "00000000-0000-0000-0000-000000000001", ClientID: "app",
		Credential: CredClientSecret, SecretEnv: "UNUSED", GraphBaseURL: srv.URL + "/v1.0",
	}
	if tweak != nil {
		tweak(&cfg)
	}
	clk := newFakeClock()
	c, err := New(cfg, Options{
		Clock: clk, Pacers: &Pacers{}, Transport: srv.Client().Transport,
		Credential: cred, Jitter: func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}
