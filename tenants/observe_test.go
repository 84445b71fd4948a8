package tenants

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGraphRoute(t *testing.T) {
	for _, tc := range []struct{ base, path, want string }{
		{"/v1.0", "/v1.0/users", "/users"},
		{"/v1.0", "/v1.0/users/", "/users"},
		{"/v1.0", "/v1.0/users/delta()", "/users/delta()"},
		{"/v1.0", "/v1.0/users/0f3c1f0e-7d8a-4c51-9b0e-4f1b7c2a9d11", "/users/{id}"},
		{"/v1.0", "/v1.0/users/alice@contoso.com", "/users/{id}"},
		{"/v1.0", "/v1.0/users/alice_contoso.com#EXT#@fabrikam.onmicrosoft.com/manager/$ref", "/users/{id}/manager/$ref"},
		{"/v1.0", "/v1.0/users(userPrincipalName='alice@contoso.com')", "/{id}"},
		{"/v1.0", "/v1.0/directory/deletedItems/0f3c1f0e-7d8a-4c51-9b0e-4f1b7c2a9d11/restore", "/directory/deletedItems/{id}/restore"},
		{"/v1.0", "/v1.0/directory/deletedItems/microsoft.graph.user", "/directory/deletedItems/microsoft.graph.user"},
		{"/v1.0", "/v1.0/$batch", "/$batch"},
		{"/v1.0/", "/v1.0/invitations", "/invitations"},
		{"", "/beta/users", "/beta/users"},
		{"/v1.0", "/v1.0", "/"},
		{"/v1.0", "/v1.0/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/..."},
		{"/v1.0", "/other/v2/users", "/other/{id}/users"},
	} {
		if got := graphRoute(tc.base, tc.path); got != tc.want {
			t.Errorf("graphRoute(%q, %q) = %q, want %q", tc.base, tc.path, got, tc.want)
		}
	}
}

// recObserver records what a Client reports.
type recObserver struct {
	mu        sync.Mutex
	requests  []string // "tenant METHOD route status"
	retries   []string // "tenant op"
	throttled int
	waits     int
}

func (o *recObserver) Request(tenant, method, route string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, tenant+" "+method+" "+route+" "+http.StatusText(status))
}

func (o *recObserver) Retry(tenant, op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, tenant+" "+op)
}

func (o *recObserver) Throttled(string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled++
}

func (o *recObserver) PacerWait(string, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits++
}

// TestObserverSeesRequestsRetriesAndThrottling: a read answered 429 once,
// then 200, is reported as two requests on the templated route (no object
// ID in it), one 429, one retry of the call's operation, and a pacer wait
// per request.
func TestObserverSeesRequestsRetriesAndThrottling(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"0f3c1f0e-7d8a-4c51-9b0e-4f1b7c2a9d11","mail":"a@b.c"}`))
	}))
	t.Cleanup(srv.Close)
	obs := &recObserver{}
	c, err := New(Config{
		Name: "stub", TenantID: "00000000-0000-0000-0000-000000000001", ClientID: "app",
		Credential: CredClientSecret, SecretEnv: "UNUSED", GraphBaseURL: srv.URL + "/v1.0",
	}, Options{
		Clock: newFakeClock(), Pacers: &Pacers{}, Transport: srv.Client().Transport,
		Credential: staticToken{}, Jitter: func() float64 { return 0.5 }, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Target().Get(context.Background(), "0f3c1f0e-7d8a-4c51-9b0e-4f1b7c2a9d11", []string{"mail"}); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"stub GET /users/{id} Too Many Requests", "stub GET /users/{id} OK"}
	if len(obs.requests) != 2 || obs.requests[0] != want[0] || obs.requests[1] != want[1] {
		t.Errorf("requests %q, want %q", obs.requests, want)
	}
	if len(obs.retries) != 1 || obs.retries[0] != "stub GET /users/{id}" {
		t.Errorf("retries %q", obs.retries)
	}
	if obs.throttled != 1 || obs.waits != 2 {
		t.Errorf("throttled %d, pacer waits %d; want 1 and 2", obs.throttled, obs.waits)
	}
}
