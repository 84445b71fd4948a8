package graphsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func noRetry() []abs.RequestOption {
	return []abs.RequestOption{&khttp.RetryHandlerOptions{MaxRetries: 0, ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false }}}
}

func TestThrottling(t *testing.T) {
	clock := newClock()
	s := startSim(t, Options{Users: 3, Now: clock.Now, TokenLifetime: 48 * time.Hour, Realism: &Realism{Throttling: true,
		Limits: Limits{ResourceUnits: 10, WritesPerApp: 3, InvitationsPerTenant: 2}}})
	ctx := context.Background()
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{Options: noRetry()}
	for i := 0; i < 5; i++ { // GET /users costs 2 RU: 5 calls reach the limit of 10
		if _, err := ub.Get(ctx, cfg); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := ub.Get(ctx, cfg)
	wantStatus(t, err, http.StatusTooManyRequests, "TooManyRequests")
	var oe *odataerrors.ODataError
	errors.As(err, &oe)
	h := oe.GetResponseHeaders()
	ra := h.Get("Retry-After")
	if len(ra) == 0 {
		t.Fatal("429 without Retry-After")
	}
	if n, _ := strconv.Atoi(ra[0]); n < 1 || n > 20 {
		t.Fatalf("Retry-After %v", ra)
	}
	if v := h.Get("x-ms-throttle-information"); len(v) == 0 || v[0] != "ResourceUnitLimitExceeded" {
		t.Fatalf("x-ms-throttle-information %v", v)
	}
	if len(h.Get("x-ms-throttle-scope")) == 0 || len(h.Get("x-ms-resource-unit")) == 0 || len(h.Get("x-ms-throttle-limit-percentage")) == 0 {
		t.Fatal("throttle headers missing")
	}
	// Usage accrues while throttled: retrying early stays throttled.
	clock.Advance(time.Duration(mustAtoi(ra[0])-1) * time.Second)
	_, err = ub.Get(ctx, cfg)
	wantStatus(t, err, http.StatusTooManyRequests, "")
	clock.Advance(30 * time.Second)
	if _, err := ub.Get(ctx, cfg); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// Write quota per app per tenant.
	clock.Advance(time.Hour)
	id := s.Tenant("contoso").Users()[0].ID
	var last error
	for i := 0; i < 4; i++ {
		u := models.NewUser()
		u.SetJobTitle(ptr(fmt.Sprintf("t%d", i)))
		_, last = ub.ByUserId(id).Patch(ctx, u, &users.UserItemRequestBuilderPatchRequestConfiguration{Options: noRetry()})
	}
	wantStatus(t, last, http.StatusTooManyRequests, "TooManyRequests")
	errors.As(last, &oe)
	if v := oe.GetResponseHeaders().Get("x-ms-throttle-information"); len(v) == 0 || v[0] != "WriteLimitExceeded" {
		t.Fatalf("write throttle info %v", v)
	}
	if st := s.Stats().Tenant("contoso"); st.Throttled != 3 {
		t.Fatalf("throttled count %d, want 3", st.Throttled)
	}

	// $batch: each item is throttled on its own inside a 200 envelope.
	clock.Advance(time.Hour)
	tok := accessToken(t, s, "contoso")
	var items []string
	for i := 0; i < 8; i++ {
		items = append(items, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users"}`, i))
	}
	code, _, body := raw(t, s, tok, "POST", "/$batch", `{"requests":[`+strings.Join(items, ",")+`]}`)
	if code != 200 {
		t.Fatalf("batch envelope %d", code)
	}
	n429 := 0
	for _, r := range body["responses"].([]any) {
		m := r.(map[string]any)
		if m["status"] == float64(429) {
			n429++
			if m["headers"].(map[string]any)["Retry-After"] == nil {
				t.Fatal("batch item 429 without Retry-After")
			}
		}
	}
	if n429 != 3 {
		t.Fatalf("batch 429 items %d, want 3", n429)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// faultSequence issues n sequential GETs and records what came back.
func faultSequence(t *testing.T, seed int64, n int) []string {
	s := startSim(t, Options{Users: 2, Seed: seed, Realism: &Realism{FaultRate: 0.5}})
	tok := accessToken(t, s, "contoso")
	var out []string
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", s.GraphURL()+"/users?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			out = append(out, "reset")
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, fmt.Sprintf("%d/%d", resp.StatusCode, min(len(b), 1)))
	}
	return out
}

func TestFaultsDeterministic(t *testing.T) {
	a := faultSequence(t, 42, 40)
	b := faultSequence(t, 42, 40)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("fault sequence not deterministic:\n%v\n%v", a, b)
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, want := range []string{"200/1", "503/0", "reset"} {
		if !seen[want] {
			t.Errorf("no %s in %v", want, a)
		}
	}
}

func TestLostResponse(t *testing.T) {
	s := startSim(t, Options{Users: 2, Realism: &Realism{LostResponseRate: 1}})
	tok := accessToken(t, s, "contoso")
	id := s.Tenant("contoso").Users()[0].ID
	req, _ := http.NewRequest("PATCH", s.GraphURL()+"/users/"+id, strings.NewReader(`{"jobTitle":"Applied"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Fatalf("lost response answered %d", resp.StatusCode)
		}
	}
	if u, _ := s.Tenant("contoso").User(id); u.Attrs["jobTitle"] != "Applied" {
		t.Fatal("write whose response was lost was not applied")
	}
}

func TestRealisticProfileServes(t *testing.T) {
	s := startSim(t, Options{Users: 30, Profile: ProfileRealistic, Seed: 11})
	ub := users.NewUsersRequestBuilderInternal(baseParams(s), defaultAdapter(t, s, "contoso"))
	// The SDK's retry handler absorbs the rare faults of the profile.
	all, _ := listAll(t, ub, nil)
	if len(all) != 30 {
		t.Fatalf("%d users", len(all))
	}
	if !s.Realism().Throttling {
		t.Fatal("realistic profile without throttling")
	}
}
