package tenants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

func odataBody(code string) string {
	return fmt.Sprintf(`{"error":{"code":%q,"message":"msg for %s","innerError":{"request-id":"rid-body","date":"2026-01-01T00:00:00"}}}`, code, code)
}

// TestClassification sends real SDK requests to a server answering each
// status and checks the one GraphError and its predicates.
func TestClassification(t *testing.T) {
	type preds struct{ nf, thr, conf, forb, bad, expired, unauth, transient bool }
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		hdr    map[string]string
		code   string
		want   preds
	}{
		{"400", 400, "application/json", odataBody("Request_BadRequest"), nil, "Request_BadRequest", preds{bad: true}},
		{"400 syncStateNotFound", 400, "application/json", odataBody("syncStateNotFound"), nil, "syncStateNotFound", preds{expired: true}},
		{"401", 401, "application/json", odataBody("InvalidAuthenticationToken"), nil, "InvalidAuthenticationToken", preds{unauth: true}},
		{"403", 403, "application/json", odataBody("Authorization_RequestDenied"), nil, "Authorization_RequestDenied", preds{forb: true}},
		{"404", 404, "application/json", odataBody("Request_ResourceNotFound"), nil, "Request_ResourceNotFound", preds{nf: true}},
		{"409", 409, "application/json", odataBody("Conflict"), nil, "Conflict", preds{conf: true}},
		{"400 duplicate key", 400, "application/json", odataBody("Request_MultipleObjectsWithSameKeyValue"), nil, "Request_MultipleObjectsWithSameKeyValue", preds{conf: true, bad: true}},
		{"410", 410, "application/json", odataBody("Gone"), nil, "Gone", preds{expired: true}},
		{"429", 429, "application/json", odataBody("TooManyRequests"), map[string]string{"Retry-After": "12"}, "TooManyRequests", preds{thr: true, transient: true}},
		{"500", 500, "application/json", odataBody("InternalServerError"), nil, "InternalServerError", preds{transient: true}},
		{"502 html", 502, "text/html", "<html>bad gateway</html>", nil, "", preds{transient: true}},
		{"503 empty", 503, "", "", nil, "", preds{transient: true}},
		{"503 no error object", 503, "application/json", `{}`, nil, "", preds{transient: true}},
		{"404 null error", 404, "application/json", `{"error":null}`, nil, "", preds{nf: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.hdr {
					w.Header().Set(k, v)
				}
				w.Header().Set("request-id", "rid-header")
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			_, err := c.Target().Get(context.Background(), "u1", []string{"mail"})
			var ge *GraphError
			if !errors.As(err, &ge) {
				t.Fatalf("error %T %v is not a GraphError", err, err)
			}
			if ge.Status != tc.status || ge.Code != tc.code || ge.Tenant != "stub" {
				t.Errorf("status %d code %q tenant %q; want %d %q", ge.Status, ge.Code, ge.Tenant, tc.status, tc.code)
			}
			if ge.RequestID == "" {
				t.Errorf("no request ID")
			}
			got := preds{IsNotFound(err), IsThrottled(err), IsConflict(err), IsForbidden(err), IsBadRequest(err),
				IsSyncStateExpired(err), IsUnauthorized(err), IsTransient(err)}
			if got != tc.want {
				t.Errorf("predicates %+v, want %+v (err %v)", got, tc.want, err)
			}
			if tc.status == 429 && ge.RetryAfter != 12*time.Second {
				t.Errorf("RetryAfter %v", ge.RetryAfter)
			}
			_ = err.Error() // must not panic
		})
	}
}

// TestAsGraphErrorNilSafe feeds SDK error values with nothing set.
func TestAsGraphErrorNilSafe(t *testing.T) {
	for _, err := range []error{
		&odataerrors.ODataError{},   // zero value: its getters panic
		odataerrors.NewODataError(), // no main error
		errors.New("dial tcp: connection refused"),
	} {
		ge := asGraphError(err, nil, "t", "GET /x")
		if ge == nil {
			t.Fatal("nil")
		}
		_ = ge.Error()
	}
	ge := asGraphError(errors.New("connection reset"), nil, "t", "GET /x")
	if !ge.Transient() {
		t.Error("transport error not transient")
	}
	ge = asGraphError(fmt.Errorf("wrapped: %w", context.DeadlineExceeded), nil, "t", "GET /x")
	if ge.Transient() || !errors.Is(ge, context.DeadlineExceeded) {
		t.Error("deadline exceeded classified as transient")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "0": 0, "-3": 0, "1.5": 1500 * time.Millisecond, "junk": 0,
		now.Add(9 * time.Second).Format(http.TimeFormat): 9 * time.Second,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %v want %v", in, got, want)
		}
	}
}

// TestRetryHonoursRetryAfter: two 429s with Retry-After 7, then success;
// the client sleeps exactly 7 s twice and blocks the tenant's pacer.
func TestRetryHonoursRetryAfter(t *testing.T) {
	var n atomic.Int32
	c, clk := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"u1","mail":"a@b.c"}`))
	}, nil)
	var blocks []PaceEvent
	c.Pacer().Observe(func(ev PaceEvent) {
		if ev.Blocked {
			blocks = append(blocks, ev)
		}
	})
	u, err := c.Target().Get(context.Background(), "u1", []string{"mail"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Str("mail") != "a@b.c" || n.Load() != 3 {
		t.Fatalf("user %+v after %d requests", u, n.Load())
	}
	// Besides the two Retry-After waits, the pacer spaces the requests that
	// follow a block at the sustained rate (a few ms for 1 RU).
	var long []time.Duration
	for _, d := range clk.slept() {
		if d >= 100*time.Millisecond {
			long = append(long, d)
		}
	}
	if len(long) != 2 || long[0] != 7*time.Second || long[1] != 7*time.Second {
		t.Errorf("slept %v, want two 7 s waits", clk.slept())
	}
	if len(blocks) != 2 || blocks[0].Until.Sub(blocks[0].At) != 7*time.Second {
		t.Errorf("pacer blocks %+v", blocks)
	}
}

// TestRetryBackoff: 503 without Retry-After backs off exponentially with
// jitter (fixed at 0.5 here), capped, and gives up after MaxAttempts.
func TestRetryBackoff(t *testing.T) {
	var n atomic.Int32
	c, clk := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(503)
	}, func(cfg *Config) {
		cfg.Retry = RetryPolicy{MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 5 * time.Second}
	})
	err := c.Target().SoftDelete(context.Background(), "u1")
	if !IsTransient(err) || n.Load() != 6 {
		t.Fatalf("err %v after %d tries", err, n.Load())
	}
	// d = min(5s, 1s*2^(k-1)); sleep = d/2 + 0.5*d/2
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 3750 * time.Millisecond, 3750 * time.Millisecond}
	got := clk.slept()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slept %v, want %v", got, want)
	}
}

// TestRetryBoundedByDeadline: a Retry-After beyond the context deadline
// returns the throttled error at once instead of sleeping, marked out of
// time (directory.ErrOutOfTime), so the worker counts the user pending
// rather than failed; a failure that is not retried is not marked.
func TestRetryBoundedByDeadline(t *testing.T) {
	var n atomic.Int32
	c, clk := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(429)
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Target().Update(ctx, "u1", map[string]any{"jobTitle": "x"})
	if !IsThrottled(err) || n.Load() != 1 || len(clk.slept()) != 0 {
		t.Fatalf("err %v, %d tries, slept %v", err, n.Load(), clk.slept())
	}
	if !errors.Is(err, directory.ErrOutOfTime) {
		t.Errorf("err %v: not out of time", err)
	}
	c2, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) }, nil)
	if err := c2.Target().Update(ctx, "u1", map[string]any{"jobTitle": "x"}); errors.Is(err, directory.ErrOutOfTime) {
		t.Errorf("a 400 is marked out of time: %v", err)
	}
}

// TestNotRetried: a 400 is never retried; nor a 404 on an object not
// created by this client.
func TestNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404} {
		var n atomic.Int32
		c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(status)
		}, nil)
		if err := c.Target().Update(context.Background(), "u1", map[string]any{"jobTitle": "x"}); err == nil || n.Load() != 1 {
			t.Errorf("%d: err %v after %d tries", status, err, n.Load())
		}
	}
}

// TestNotFoundAfterCreate: reads of a just-invited user retry 404s.
func TestNotFoundAfterCreate(t *testing.T) {
	var gets atomic.Int32
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/invitations"):
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":"inv","invitedUser":{"id":"g1"},"status":"PendingAcceptance"}`))
		case r.Method == "GET" && gets.Add(1) <= 3:
			w.WriteHeader(404)
			_, _ = w.Write([]byte(odataBody("Request_ResourceNotFound")))
		default:
			_, _ = w.Write([]byte(`{"id":"g1","mail":"x@y.z"}`))
		}
	}, nil)
	id, err := c.Target().Invite(context.Background(), directory.Invitation{Email: "x@y.z"})
	if err != nil || id != "g1" {
		t.Fatalf("invite: %q %v", id, err)
	}
	u, err := c.Target().Get(context.Background(), id, []string{"mail"})
	if err != nil || u.Str("mail") != "x@y.z" || gets.Load() != 4 {
		t.Fatalf("get: %+v %v after %d GETs", u, err, gets.Load())
	}
}

// TestDeleteAfterLostResponse: a DELETE whose first try failed with a 5xx
// and whose retry finds the object gone counts as done.
func TestDeleteAfterLostResponse(t *testing.T) {
	var n atomic.Int32
	c, _ := stubClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(504)
			return
		}
		w.WriteHeader(404)
	}, nil)
	if err := c.Target().SoftDelete(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
}
