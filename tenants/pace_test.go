package tenants

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// TestPacerStaysUnderWindow drives the write budget for ten windows with a
// fake clock: no sliding window of 150 s admits more than the limit, and
// the sustained rate is Utilization of it.
func TestPacerStaysUnderWindow(t *testing.T) {
	clk := newFakeClock()
	l := Limits{Writes: 3000, WriteWindow: 150 * time.Second}
	p := NewPacer(l, clk)
	var at []time.Time
	p.Observe(func(ev PaceEvent) { at = append(at, ev.At) })
	start := clk.Now()
	ctx := context.Background()
	for clk.Now().Sub(start) < 10*150*time.Second {
		if err := p.Wait(ctx, Cost{RU: 1, Writes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	j := 0
	for i := range at {
		for at[i].Sub(at[j]) >= 150*time.Second {
			j++
		}
		if n := i - j + 1; n > 3000 {
			t.Fatalf("%d writes within 150 s ending at %v", n, at[i].Sub(start))
		}
	}
	rate := float64(len(at)) / at[len(at)-1].Sub(start).Seconds() / (3000.0 / 150)
	if rate < 0.9 || rate > 1 {
		t.Errorf("sustained %.3f of the quota", rate)
	}
}

// TestPacerBlock: after Block, nothing is admitted before the window ends,
// and events come in decision order.
func TestPacerBlock(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(Limits{}, clk)
	var evs []PaceEvent
	p.Observe(func(ev PaceEvent) { evs = append(evs, ev) })
	ctx := context.Background()
	_ = p.Wait(ctx, Cost{RU: 1})
	until := clk.Now().Add(9 * time.Second)
	p.Block(until)
	p.Block(until.Add(-time.Second)) // an earlier end never shortens a block
	_ = p.Wait(ctx, Cost{RU: 1})
	if len(evs) != 3 || !evs[1].Blocked || evs[2].Blocked || evs[2].At.Before(until) {
		t.Fatalf("events %+v", evs)
	}
}

// TestPacerUnpaced admits without waiting but still honours blocks.
func TestPacerUnpaced(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(Limits{Unpaced: true, Writes: 1}, clk)
	for range 100 {
		_ = p.Wait(context.Background(), Cost{Writes: 1})
	}
	if len(clk.slept()) != 0 {
		t.Fatal("unpaced pacer slept")
	}
	p.Block(clk.Now().Add(time.Second))
	_ = p.Wait(context.Background(), Cost{Writes: 1})
	if s := clk.slept(); len(s) != 1 || s[0] != time.Second {
		t.Fatalf("slept %v", s)
	}
}

func TestPacersShared(t *testing.T) {
	r := &Pacers{}
	a := r.For("T1", "App", Limits{}, nil)
	if r.For("t1", "app", Limits{}, nil) != a || r.For("t2", "app", Limits{}, nil) == a {
		t.Fatal("pacers not shared per tenant and app")
	}
}

func TestRequestCost(t *testing.T) {
	cases := []struct {
		method, url string
		want        Cost
	}{
		{"GET", "https://g/v1.0/users?$select=id,mail&$top=999", Cost{RU: 1}},
		{"GET", "https://g/v1.0/users", Cost{RU: 2}},
		{"GET", "https://g/v1.0/users/delta?$select=id", Cost{RU: 1}},
		{"GET", "https://g/v1.0/users/x?$select=id", Cost{RU: 1}},
		{"GET", "https://g/v1.0/users/x?$expand=manager", Cost{RU: 2}},
		{"GET", "https://g/v1.0/users?$top=5", Cost{RU: 1}},
		{"PATCH", "https://g/v1.0/users/x", Cost{RU: 1, Writes: 1}},
		{"POST", "https://g/v1.0/invitations", Cost{RU: 1, Writes: 1, Invitations: 1}},
		{"DELETE", "https://g/v1.0/directory/deletedItems/x", Cost{RU: 1, Writes: 1}},
	}
	for _, c := range cases {
		u, _ := url.Parse(c.url)
		r := &http.Request{Method: c.method, URL: u}
		r = r.WithContext(context.Background())
		if got := requestCost(r); got != c.want {
			t.Errorf("%s %s: %+v want %+v", c.method, c.url, got, c.want)
		}
	}
	r := (&http.Request{Method: "POST", URL: &url.URL{Path: "/v1.0/$batch"}}).WithContext(withCost(context.Background(), Cost{RU: 20}))
	if got := requestCost(r); got != (Cost{RU: 20}) {
		t.Errorf("batch cost %+v", got)
	}
}

// maxInWindow returns the most admissions in any window of length w.
func maxInWindow(at []time.Time, w time.Duration) int {
	most, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestPacerAppWide: three tenants served by one app draw from the app's
// budget across all tenants as well as from their own; another app's
// tenant does not. Per tenant 100 writes per 60 s, per app 200: the app's
// budget binds, no 60 s window holds more than 200 writes of the app or
// 100 of one tenant, and the app's sustained rate is Utilization of its
// budget.
func TestPacerAppWide(t *testing.T) {
	clk := newFakeClock()
	r := &Pacers{}
	l := Limits{Writes: 100, WriteWindow: time.Minute, AppWrites: 200, AppWriteWindow: time.Minute}
	ps := []*Pacer{r.For("t1", "app", l, clk), r.For("t2", "APP", l, clk), r.For("t3", "app", l, clk)}
	other := r.For("t1", "other-app", l, clk)
	var all []time.Time
	per := make([][]time.Time, len(ps))
	for i, p := range ps {
		p.Observe(func(ev PaceEvent) {
			all = append(all, ev.At)
			per[i] = append(per[i], ev.At)
		})
	}
	ctx := context.Background()
	start := clk.Now()
	for k := 0; clk.Now().Sub(start) < 10*time.Minute; k++ {
		if err := ps[k%len(ps)].Wait(ctx, Cost{RU: 1, Writes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := maxInWindow(all, time.Minute); n > 200 {
		t.Fatalf("%d writes of the app within 60 s", n)
	}
	for i := range per {
		if n := maxInWindow(per[i], time.Minute); n > 100 {
			t.Fatalf("%d writes of tenant %d within 60 s", n, i+1)
		}
	}
	rate := float64(len(all)) / all[len(all)-1].Sub(start).Seconds() / (200.0 / 60)
	if rate < 0.9 || rate > 1 {
		t.Errorf("app sustained %.3f of its quota", rate)
	}
	// the other app's budget is untouched: it admits its tenant's burst
	// (2.5 writes) at once
	before := len(clk.slept())
	for range 2 {
		_ = other.Wait(ctx, Cost{RU: 1, Writes: 1})
	}
	if len(clk.slept()) != before {
		t.Errorf("another app's tenant waited for this app's budget")
	}
}

// TestPacerAppRequests: a $batch spends its sub-requests of the app's
// global request budget.
func TestPacerAppRequests(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(Limits{AppRequests: 1000, AppRequestWindow: 10 * time.Second}, clk)
	ctx := context.Background()
	start := clk.Now()
	for range 50 {
		_ = p.Wait(ctx, Cost{RU: 20, Requests: 20})
	}
	// 1,000 sub-requests at 95 per second after a burst of 25
	if d := clk.Now().Sub(start); d < 10*time.Second || d > 11*time.Second {
		t.Errorf("50 batches of 20 took %v, want about 10.3 s", d)
	}
}

// TestPacerBlockApp: a 429 scoped to the application holds back every
// tenant of the app (and only that app), even unpaced ones.
func TestPacerBlockApp(t *testing.T) {
	clk := newFakeClock()
	r := &Pacers{}
	a := r.For("t1", "app", Limits{}, clk)
	b := r.For("t2", "app", Limits{Unpaced: true}, clk)
	other := r.For("t1", "other", Limits{}, clk)
	ctx := context.Background()
	until := clk.Now().Add(4 * time.Second)
	a.BlockApp(until)
	_ = other.Wait(ctx, Cost{RU: 1})
	if len(clk.slept()) != 0 {
		t.Fatalf("another app waited: %v", clk.slept())
	}
	_ = b.Wait(ctx, Cost{RU: 1})
	if s := clk.slept(); len(s) != 1 || s[0] != 4*time.Second {
		t.Fatalf("other tenant of the app slept %v, want 4 s", s)
	}
	for scope, want := range map[string]bool{
		"Application/ReadWrite/app/tenant": true, "application/Write/app/tenant": true,
		"Tenant_Application/ReadWrite/app/tenant": false, "Tenant/Write/app/tenant": false, "": false,
	} {
		if appScope(scope) != want {
			t.Errorf("appScope(%q) = %v", scope, !want)
		}
	}
}

// TestAppScoped429: a 429 whose x-ms-throttle-scope is the application
// blocks another tenant's Client of the same app for its Retry-After.
func TestAppScoped429(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "6")
			w.Header().Set("x-ms-throttle-scope", "Application/ReadWrite/app/t1")
			w.WriteHeader(429)
			return
		}
		_, _ = w.Write([]byte(`{"id":"u1"}`))
	}))
	t.Cleanup(srv.Close)
	clk := newFakeClock()
	pacers := &Pacers{}
	client := func(name, tenantID string) *Client {
		c, err := New(Config{Name: name, TenantID: tenantID, ClientID: "app", Credential: CredClientSecret,
			SecretEnv: "UNUSED", GraphBaseURL: srv.URL + "/v1.0", Retry: RetryPolicy{MaxAttempts: 1}},
			Options{Clock: clk, Pacers: pacers, Transport: srv.Client().Transport, Credential: staticToken{}})
		must(t, err)
		return c
	}
	a, b := client("first", "t1"), client("second", "t2")
	if _, err := a.Source().User(context.Background(), "u1", nil); !IsThrottled(err) {
		t.Fatalf("first call: %v", err)
	}
	if _, err := b.Source().User(context.Background(), "u1", nil); err != nil {
		t.Fatal(err)
	}
	var waited time.Duration
	for _, d := range clk.slept() {
		waited += d
	}
	if waited < 6*time.Second {
		t.Fatalf("the app's other tenant waited %v, want the 6 s Retry-After", waited)
	}
}
