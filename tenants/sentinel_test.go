package tenants

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// sentinels pairs each directory sentinel with the predicate it must agree
// with.
var sentinels = []struct {
	name string
	err  error
	pred func(error) bool
}{
	{"ErrNotFound", directory.ErrNotFound, IsNotFound},
	{"ErrSyncStateExpired", directory.ErrSyncStateExpired, IsSyncStateExpired},
	{"ErrFatal", directory.ErrFatal, IsFatal},
	{"ErrForbidden", directory.ErrForbidden, IsForbidden},
	{"ErrConflict", directory.ErrConflict, IsConflict},
	{"ErrThrottled", directory.ErrThrottled, IsThrottled},
	{"ErrTransient", directory.ErrTransient, IsTransient},
	{"ErrBadRequest", directory.ErrBadRequest, IsBadRequest},
}

// TestSentinels: errors.Is(err, directory.ErrX) holds exactly when the
// predicate IsX does, for every kind of failure, bare or wrapped; and the
// expected sentinels hold.
func TestSentinels(t *testing.T) {
	refused := &CredentialError{Tenant: "t", Kind: CredClientSecret, Err: errors.New("AADSTS7000215")}
	flaky := &CredentialError{Tenant: "t", Kind: CredClientSecret, Err: errors.New("503"), transient: true}
	cases := []struct {
		name string
		err  error
		want []error
	}{
		{"404", &GraphError{Status: 404, Code: CodeResourceNotFound}, []error{directory.ErrNotFound}},
		{"429", &GraphError{Status: 429}, []error{directory.ErrThrottled, directory.ErrTransient}},
		{"409", &GraphError{Status: 409}, []error{directory.ErrConflict}},
		{"400 duplicate key", &GraphError{Status: 400, Code: CodeMultipleObjects}, []error{directory.ErrConflict, directory.ErrBadRequest}},
		{"400 ObjectConflict detail", &GraphError{Status: 400, Code: "Request_BadRequest", Details: []string{"ObjectConflict"}},
			[]error{directory.ErrConflict, directory.ErrBadRequest}},
		{"400", &GraphError{Status: 400, Code: "Request_BadRequest"}, []error{directory.ErrBadRequest}},
		{"400 syncStateNotFound", &GraphError{Status: 400, Code: CodeSyncStateNotFound}, []error{directory.ErrSyncStateExpired}},
		{"410", &GraphError{Status: 410}, []error{directory.ErrSyncStateExpired}},
		{"401", &GraphError{Status: 401}, []error{directory.ErrFatal}},
		{"403", &GraphError{Status: 403}, []error{directory.ErrForbidden}},
		{"500", &GraphError{Status: 500}, []error{directory.ErrTransient}},
		{"no response", &GraphError{Err: errors.New("connection reset")}, []error{directory.ErrTransient}},
		{"cancelled", &GraphError{Err: context.Canceled}, nil},
		{"deadline", &GraphError{Err: fmt.Errorf("x: %w", context.DeadlineExceeded)}, nil},
		{"credential refused", &GraphError{Err: refused}, []error{directory.ErrFatal}},
		{"credential flaky", &GraphError{Err: flaky}, []error{directory.ErrTransient}},
		{"bare credential refused", refused, []error{directory.ErrFatal}},
		{"bare credential flaky", flaky, nil},
		{"other error", errors.New("x"), nil},
	}
	for _, tc := range cases {
		for _, wrapped := range []bool{false, true} {
			err := tc.err
			if wrapped {
				err = fmt.Errorf("apply user u1: %w", err)
			}
			for _, s := range sentinels {
				is, pred := errors.Is(err, s.err), s.pred(err)
				if is != pred {
					t.Errorf("%s (wrapped %v): errors.Is %s = %v, predicate %v", tc.name, wrapped, s.name, is, pred)
				}
				want := false
				for _, w := range tc.want {
					want = want || w == s.err
				}
				if is != want {
					t.Errorf("%s (wrapped %v): errors.Is %s = %v, want %v", tc.name, wrapped, s.name, is, want)
				}
			}
		}
	}
}

// TestSentinelsOverSDK: the errors of real SDK calls answer errors.Is as
// their predicates do (TestClassification's statuses).
func TestSentinelsOverSDK(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 410, 429, 500, 503} {
		c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(odataBody("Some_Code")))
		}, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
		_, err := c.Target().Get(context.Background(), "u1", nil)
		if err == nil {
			t.Fatalf("%d: no error", status)
		}
		for _, s := range sentinels {
			if errors.Is(err, s.err) != s.pred(err) {
				t.Errorf("%d: errors.Is %s disagrees with its predicate", status, s.name)
			}
		}
	}
}

// TestObjectConflict: Graph's 400 for a mail held by another object's
// proxyAddresses carries ObjectConflict in its details: a conflict.
func TestObjectConflict(t *testing.T) {
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"error":{"code":"Request_BadRequest","message":"Another object with the same value for property proxyAddresses already exists.",`+
			`"details":[{"code":"ObjectConflict","message":"Another object with the same value for property proxyAddresses already exists.","target":"proxyAddresses"}],`+
			`"innerError":{"request-id":"r1","date":"2026-11-30T10:00:00"}}}`)
	}, nil)
	err := c.Target().Update(context.Background(), "u1", map[string]any{"mail": "ann@contoso.com"})
	if !errors.Is(err, directory.ErrConflict) || !IsConflict(err) {
		t.Fatalf("err %v is not a conflict", err)
	}
	var ge *GraphError
	if !errors.As(err, &ge) || len(ge.Details) != 1 || ge.Details[0] != CodeObjectConflict {
		t.Fatalf("details %+v", ge)
	}
	// details of SDK values not built by its parser read as none
	for _, o := range []*odataerrors.ODataError{{}, odataerrors.NewODataError(), nil} {
		if d := odataDetails(o); d != nil {
			t.Errorf("details %v", d)
		}
	}
}

// TestForbiddenNamesPermission: every 403 says which application
// permission the operation needs.
func TestForbiddenNamesPermission(t *testing.T) {
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = w.Write([]byte(odataBody("Authorization_RequestDenied")))
	}, nil)
	ctx := context.Background()
	tg, src := c.Target(), c.Source()
	cases := []struct {
		name, want string
		run        func() error
	}{
		{"restore", "User.DeleteRestore.All", func() error { return tg.Restore(ctx, "u1") }},
		{"purge", "User.DeleteRestore.All", func() error {
			return c.call(ctx, "DELETE /directory/deletedItems/{id}", callOpts{}, func(ctx context.Context) error {
				return tg.deletedItem("u1").Delete(ctx, nil)
			})
		}},
		{"invite", "User.Invite.All", func() error {
			_, err := tg.Invite(ctx, directory.Invitation{Email: "a@b.c"})
			return err
		}},
		{"patch", "User.ReadWrite.All", func() error { return tg.Update(ctx, "u1", map[string]any{"jobTitle": "x"}) }},
		{"patch admin", "admin role", func() error { return tg.Disable(ctx, "u1") }},
		{"delete", "User.ReadWrite.All", func() error { return tg.SoftDelete(ctx, "u1") }},
		{"manager", "User.ReadWrite.All", func() error { return tg.Update(ctx, "u1", map[string]any{"manager": "m1"}) }},
		{"domains", "Domain.Read.All", func() error { _, err := src.Domains(ctx); return err }},
		{"group", "GroupMember.Read.All", func() error { _, err := src.GroupMembers(ctx, "g1", true); return err }},
	}
	for _, tc := range cases {
		err := tc.run()
		if !errors.Is(err, directory.ErrForbidden) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a 403 naming %s", tc.name, err, tc.want)
		}
	}
}

// tokenStub is a credential failing with the given errors, in order, then
// succeeding.
type tokenStub struct {
	calls atomic.Int32
	errs  []func() error
}

func (s *tokenStub) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := int(s.calls.Add(1))
	if n <= len(s.errs) {
		return azcore.AccessToken{}, s.errs[n-1]()
	}
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// authFailed is what azidentity returns when the authority answered
// status with body (or, status 0, when no answer came).
func authFailed(status int, body string) func() error {
	return func() error {
		if status == 0 {
			return &azidentity.AuthenticationFailedError{}
		}
		return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{
			StatusCode: status, Status: http.StatusText(status),
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(body)),
		}}
	}
}

func aadsts(errCode string, code int) string {
	return fmt.Sprintf(`{"error":%q,"error_description":"AADSTS%d: something. Trace ID: x","error_codes":[%d],"timestamp":"2026-11-30 10:00:00Z"}`,
		errCode, code, code)
}

// TestTokenEndpointFailures: a token endpoint answering 5xx, 429,
// temporarily_unavailable, or not at all is retried with backoff like any
// transient failure; a refused credential stops at once and is fatal.
func TestTokenEndpointFailures(t *testing.T) {
	transient := map[string]func() error{
		"503":                     authFailed(503, aadsts("temporarily_unavailable", 90033)),
		"500 empty":               authFailed(500, ""),
		"429":                     authFailed(429, ""),
		"400 temporarily":         authFailed(400, aadsts("temporarily_unavailable", 90033)),
		"400 AADSTS50000":         authFailed(400, aadsts("server_error", 50000)),
		"no response":             authFailed(0, ""),
		"custom network failure":  func() error { return &netErr{} },
		"wrapped network failure": func() error { return fmt.Errorf("get token: %w", &netErr{}) },
	}
	fatal := map[string]func() error{
		"wrong secret":   authFailed(401, aadsts("invalid_client", 7000215)),
		"wrong secret 2": authFailed(400, aadsts("invalid_client", 7000215)),
		"unknown tenant": authFailed(400, aadsts("invalid_request", 90002)),
		"unknown app":    authFailed(400, aadsts("unauthorized_client", 700016)),
		"expired secret": authFailed(401, aadsts("invalid_client", 7000222)),
		"unparsable 400": authFailed(400, "<html>"),
		"unavailable":    func() error { return azidentity.NewCredentialUnavailableError("no managed identity endpoint") },
	}
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"u1"}`))
	}
	for name, fail := range transient {
		t.Run(name, func(t *testing.T) {
			cred := &tokenStub{errs: []func() error{fail, fail}}
			c, clk := stubClientCred(t, ok, cred)
			if _, err := c.Source().User(context.Background(), "u1", nil); err != nil {
				t.Fatalf("not retried: %v", err)
			}
			if n := cred.calls.Load(); n != 3 || len(clk.slept()) < 2 {
				t.Fatalf("%d token requests, slept %v", n, clk.slept())
			}
			// and when it keeps failing, the error is transient, not fatal
			cred = &tokenStub{errs: []func() error{fail, fail, fail, fail, fail, fail, fail, fail}}
			c, _ = stubClientCred(t, ok, cred)
			_, err := c.Source().User(context.Background(), "u1", nil)
			if !errors.Is(err, directory.ErrTransient) || errors.Is(err, directory.ErrFatal) || IsFatal(err) ||
				!IsCredential(err) || cred.calls.Load() != 8 {
				t.Fatalf("err %v after %d token requests", err, cred.calls.Load())
			}
		})
	}
	for name, fail := range fatal {
		t.Run(name, func(t *testing.T) {
			cred := &tokenStub{errs: []func() error{fail}}
			c, _ := stubClientCred(t, ok, cred)
			_, err := c.Source().User(context.Background(), "u1", nil)
			if !errors.Is(err, directory.ErrFatal) || !IsFatal(err) || IsTransient(err) || errors.Is(err, directory.ErrTransient) {
				t.Fatalf("err %v", err)
			}
			if n := cred.calls.Load(); n != 1 {
				t.Fatalf("refused credential retried: %d token requests", n)
			}
		})
	}
}

// netErr is a network failure (net.Error).
type netErr struct{}

func (*netErr) Error() string   { return "dial tcp: i/o timeout" }
func (*netErr) Timeout() bool   { return true }
func (*netErr) Temporary() bool { return true }

// stubClientCred is stubClient with the given credential.
func stubClientCred(t *testing.T, h http.HandlerFunc, cred azcore.TokenCredential) (*Client, *fakeClock) {
	t.Helper()
	return stubClientWith(t, h, nil, cred)
}

// TestTokenRetryAfter: the authority's Retry-After on a transient failure
// is the wait before the next try.
func TestTokenRetryAfter(t *testing.T) {
	fail := func() error {
		return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{
			StatusCode: 503, Header: http.Header{"Retry-After": {"7"}},
			Body: io.NopCloser(strings.NewReader(aadsts("temporarily_unavailable", 90033))),
		}}
	}
	cred := &tokenStub{errs: []func() error{fail}}
	c, clk := stubClientCred(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"u1"}`))
	}, cred)
	if _, err := c.Source().User(context.Background(), "u1", nil); err != nil {
		t.Fatal(err)
	}
	if s := clk.slept(); len(s) != 1 || s[0] != 7*time.Second {
		t.Fatalf("slept %v, want one 7 s wait", s)
	}
}
