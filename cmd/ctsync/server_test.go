package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/sync/worker"
)

func TestListenAddress(t *testing.T) {
	for _, tc := range []struct {
		in, addr string
		loopback bool
	}{
		{":9464", "127.0.0.1:9464", true},
		{"127.0.0.1:9464", "127.0.0.1:9464", true},
		{"[::1]:9464", "[::1]:9464", true},
		{"localhost:9464", "localhost:9464", true},
		{"0.0.0.0:9464", "0.0.0.0:9464", false},
		{"[::]:9464", "[::]:9464", false},
		{"10.1.2.3:9464", "10.1.2.3:9464", false},
	} {
		addr, loopback, err := listenAddress(tc.in)
		if err != nil || addr != tc.addr || loopback != tc.loopback {
			t.Errorf("listenAddress(%q) = %q, %v, %v; want %q, %v", tc.in, addr, loopback, err, tc.addr, tc.loopback)
		}
	}
}

// testServer is a server over an app with no pairs, an embedded store and
// the token "t0ken".
func testServer(t *testing.T) (*server, *worker.Runner) {
	t.Helper()
	st, err := guestmap.Open(t.Context(), t.TempDir()+"/state.db", guestmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t.Setenv("CTSYNC_TEST_LISTEN_TOKEN", "t0ken")
	a := &app.App{Config: &config.Config{Worker: config.Worker{Listen: ":0", ListenTokenEnv: "CTSYNC_TEST_LISTEN_TOKEN"}},
		Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := a.Runner()
	s, err := newServer(a, r, &progressHub{running: map[string]worker.Progress{}}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// TestSyncNowRequest: POST /sync needs the token and JSON; the token is
// never echoed.
func TestSyncNowRequest(t *testing.T) {
	s, _ := testServer(t)
	h := s.handler()
	for _, tc := range []struct {
		name, auth, ctype, origin string
		want                      int
	}{
		{"no token", "", "application/json", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", "application/json", "", http.StatusUnauthorized},
		{"basic auth", "Basic dDBrZW46", "application/json", "", http.StatusUnauthorized},
		{"a browser's simple request", "", "text/plain", "https://evil.example", http.StatusUnauthorized},
		{"text/plain with the token", "Bearer t0ken", "text/plain", "", http.StatusUnsupportedMediaType},
		{"form with the token", "Bearer t0ken", "application/x-www-form-urlencoded", "", http.StatusUnsupportedMediaType},
		{"no content type", "Bearer t0ken", "", "", http.StatusUnsupportedMediaType},
		{"json with the token", "Bearer t0ken", "application/json; charset=utf-8", "", http.StatusAccepted},
		{"scheme in lower case", "bearer t0ken", "application/json", "", http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/sync", strings.NewReader("{}"))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "t0ken") {
				t.Errorf("the answer echoes the token: %s", rec.Body)
			}
		})
	}
	get := httptest.NewRequest("GET", "/sync", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, get)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /sync: %d", rec.Code)
	}
}

// TestSyncNowDisabledWithoutToken: no token configured, no POST /sync.
func TestSyncNowDisabledWithoutToken(t *testing.T) {
	s, _ := testServer(t)
	s.tokenSum = nil
	req := httptest.NewRequest("POST", "/sync", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer anything")
	rec := httptest.NewRecorder()
	s.handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("status %d, want 403", rec.Code)
	}
}

// TestProbes: live while starting, ready with a reachable store and no
// pair, unready once shutting down.
func TestProbes(t *testing.T) {
	s, _ := testServer(t)
	h := s.handler()
	probe := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, p := range []string{"/livez", "/healthz", "/readyz"} {
		if code, body := probe(p); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	s.draining.Store(true)
	if code, body := probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while shutting down: %d %s", code, body)
	}
	if code, _ := probe("/livez"); code != http.StatusOK {
		t.Errorf("/livez while shutting down: %d (a draining process is alive)", code)
	}
	s.started = time.Now().Add(-2 * livezStartup)
	if code, _ := probe("/livez"); code != http.StatusServiceUnavailable {
		t.Errorf("/livez with a scheduler that never ran: %d", code)
	}
}

// TestConnGuardEvictsIdle: at the cap, a new connection evicts the oldest
// idle one and never one with a request in flight; it is shed itself only
// when every held connection is busy.
func TestConnGuardEvictsIdle(t *testing.T) {
	g := newConnGuard(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pipe := func() (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	a, aPeer := pipe()
	b, _ := pipe()
	c, _ := pipe()
	d, _ := pipe()
	if !g.admit(a) || !g.admit(b) {
		t.Fatal("below the cap, connections were refused")
	}
	g.connState(b, http.StateActive) // b has a request in flight
	if !g.admit(c) {
		t.Fatal("c was refused although a was idle")
	}
	// a was evicted: its peer reads EOF.
	_ = aPeer.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := aPeer.Read(make([]byte, 1)); err != io.EOF && !strings.Contains(err.Error(), "closed") {
		t.Errorf("the evicted connection's peer read %v, want EOF", err)
	}
	g.connState(c, http.StateActive)
	if g.admit(d) {
		t.Error("d admitted while every held connection is busy")
	}
	g.connState(b, http.StateIdle) // b's keep-alive wait: evictable again
	g.connState(c, http.StateClosed)
	if n := g.held(); n != 1 {
		t.Errorf("held %d, want 1 (b)", n)
	}
}

// TestStatusPageEscapes: directory text on the page is data: markup is
// escaped by html/template, control characters are written as escapes.
func TestStatusPageEscapes(t *testing.T) {
	hostile := "Eve <script>alert(1)</script>\x1b[31m\nFAKE\u202e"
	d := pageData{Generated: time.Now(), Refresh: pageRefresh,
		Pairs: []pagePair{{Name: "a-to-b", Source: "a", Target: "b", Result: "failed", LastError: clean(hostile),
			Running: progressOf(worker.Progress{Pair: "a-to-b", Phase: worker.PhaseApply, Read: 10, Planned: 8, Applied: 2, Start: time.Now()})}},
		Parked:      []pageParked{{Pair: "a-to-b", SourceID: "s1", GuestUPN: clean(hostile), Reason: clean(hostile)}},
		ParkedTotal: 1,
	}
	var b strings.Builder
	if err := statusPageTmpl.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script>") || strings.ContainsAny(out, "\x1b\u202e") {
		t.Errorf("hostile text reached the page raw:\n%s", out)
	}
	if !strings.Contains(out, `&lt;script&gt;alert(1)&lt;/script&gt;\x1b[31m\nFAKE\u202e`) {
		t.Errorf("hostile text not shown escaped:\n%s", out)
	}
	if !strings.Contains(out, `<progress class="cycle" max="8" value="2">`) {
		t.Errorf("no progress bar of 2 of 8:\n%s", out)
	}
}

// TestStartBindsLoopback: a listen address without a host binds
// 127.0.0.1, and the served probes answer through the guarded listener.
func TestStartBindsLoopback(t *testing.T) {
	s, _ := testServer(t)
	if err := s.start(t.Context(), ":0"); err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("\":0\" bound %s, want 127.0.0.1", s.Addr())
	}
	resp, err := http.Get("http://" + s.Addr() + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/livez: %d", resp.StatusCode)
	}
}
