package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// hostileName is a displayName that tries to forge a log line and colour
// the terminal.
const hostileName = "Eve\n2026-01-01 FAKE LINE\x1b[31m"

// escapedName is how it must print: on the line it belongs to, visibly.
const escapedName = `Eve\n2026-01-01 FAKE LINE\x1b[31m`

// checkEscaped fails when out holds the raw name (a forged line, a raw
// escape) or, when want is set, lacks its escaped form.
func checkEscaped(t *testing.T, what, out string, want bool) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "2026-01-01 FAKE LINE") {
			t.Errorf("%s: a displayName forged a line:\n%s", what, out)
		}
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Errorf("%s: a raw ANSI escape reached the output: %q", what, out)
	}
	if want && !strings.Contains(out, escapedName) {
		t.Errorf("%s: the escaped name is missing:\n%s", what, out)
	}
}

// lockedBuffer is a bytes.Buffer safe for a daemon writing and a test
// reading at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runDaemonUntil runs `ctsync run` in this process until its log holds
// want, stops it as SIGTERM would, and returns its log.
func runDaemonUntil(t *testing.T, cfgPath, want string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, &env{stdout: &out, stderr: &errb}, []string{"run", "-c", cfgPath}) }()
	for !strings.Contains(errb.String(), want) {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("ctsync run stopped (exit %d) before logging %q:\n%s", code, want, errb.String())
		case <-time.After(20 * time.Millisecond): // poll the log, not a deadline
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("ctsync run: exit %d", code)
	}
	return errb.String()
}

// TestHostileDisplayNameEscaped: two source users named hostileName, one
// synced (its displayName is in the provisioning log's changes) and one
// whose mail a member of the target already holds (a conflict: parked,
// logged as a warning). The daemon's log (`ctsync run` in text, `ctsync
// once` in JSON: they share the logger and the worker), `plan`,
// `provision`, `logs`, `status --pair`, `status --json` and, with the
// embedded store held by a daemon, the same commands through its API
// print the name escaped. It also checks that approve, reset and map
// export|rebuild go through the daemon's API (approve, reset and rebuild
// with the listener's token), and that the API refuses the changes
// without the token or without a JSON body (checkStateThroughDaemon).
func TestHostileDisplayNameEscaped(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{Tenants: []string{"contoso", "fabrikam"}, Users: 2, Seed: 1, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	src, dst := sim.Tenant("contoso"), sim.Tenant("fabrikam")
	if _, err := src.AddUser(map[string]any{"displayName": hostileName, "userPrincipalName": "eve@" + src.Domain(), "mail": "eve@" + src.Domain()}); err != nil {
		t.Fatal(err)
	}
	mallory, err := src.AddUser(map[string]any{"displayName": hostileName, "userPrincipalName": "mallory@" + src.Domain(), "mail": "mallory@" + src.Domain()})
	if err != nil {
		t.Fatal(err)
	}
	// A member of the target holding mallory's mail: ctsync never writes
	// to it, and parks mallory as a conflict.
	if _, err := dst.AddUser(map[string]any{"displayName": "Mallory Member", "userPrincipalName": "mallory.member@" + dst.Domain(), "mail": "mallory@" + src.Domain()}); err != nil {
		t.Fatal(err)
	}
	sim.SettleIndexes()

	dir := t.TempDir()
	storePath := filepath.Join(dir, "ctsync.db")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgText := app.SimConfig(sim, config.Store{Path: storePath}, "")
	cfgText = strings.Replace(cfgText, "[worker]\n", "[worker]\nlisten = \""+ln.Addr().String()+"\"\nlisten_token_env = \"CTSYNC_TEST_LISTEN_TOKEN\"\n", 1)
	t.Setenv("CTSYNC_TEST_LISTEN_TOKEN", "t0ken")
	cfgPath := filepath.Join(dir, "ctsync.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	// The daemon run below listens nowhere: ln is for the API server
	// that plays the daemon later on.
	cfgNoListen := filepath.Join(dir, "nolisten.toml")
	if err := os.WriteFile(cfgNoListen, []byte(app.SimConfig(sim, config.Store{Path: storePath}, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	const pair = "contoso-to-fabrikam"

	code, out, errs := run(t, "plan", "-c", cfgPath, "--pair", pair)
	if code != exitOK {
		t.Fatalf("plan: exit %d: %s", code, errs)
	}
	checkEscaped(t, "plan", out, false)
	if !strings.Contains(out, "FAKE LINE") {
		t.Errorf("plan does not show the hostile user:\n%s", out)
	}

	for _, format := range []string{logText, logJSON} {
		if format == logJSON {
			// Read in full again, so that mallory is tried (and logged)
			// again before the retry is due.
			if code, _, errs := run(t, "reset", "-c", cfgPath, "--pair", pair, "--watermark"); code != exitOK {
				t.Fatalf("reset: exit %d: %s", code, errs)
			}
		}
		var errs string
		if format == logText {
			errs = runDaemonUntil(t, cfgNoListen, `msg="cycle done" pair=`+pair)
		} else {
			code, _, e := run(t, "once", "-c", cfgPath, "--pair", pair, "--log-format", format)
			if code != exitFailures {
				t.Fatalf("once: exit %d (want 1: mallory parked):\n%s", code, e)
			}
			errs = e
		}
		checkEscaped(t, "daemon log ("+format+")", errs, format == logText)
		if !strings.Contains(errs, mallory) || !strings.Contains(errs, "conflict") {
			t.Errorf("the conflict is not logged (%s):\n%s", format, errs)
		}
		if format == logJSON {
			for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Errorf("log line is not JSON: %q", l)
				} else if m["name"] != nil && m["name"] != hostileName {
					t.Errorf("JSON log's name %q, want the name itself", m["name"])
				}
			}
		}
	}

	check := func(via string) {
		code, out, errs := run(t, "logs", "-c", cfgPath, "--pair", pair)
		if code != exitOK {
			t.Fatalf("logs %s: exit %d: %s", via, code, errs)
		}
		checkEscaped(t, "logs "+via, out, true)
		code, out, errs = run(t, "status", "-c", cfgPath, "--pair", pair)
		if code != exitOK {
			t.Fatalf("status %s: exit %d: %s", via, code, errs)
		}
		checkEscaped(t, "status "+via, out, true)
		if !strings.Contains(out, mallory) || !strings.Contains(out, "mallory@"+src.Domain()) || !strings.Contains(out, "parked") {
			t.Errorf("status %s does not list mallory by ID and mail as parked:\n%s", via, out)
		}
		code, out, errs = run(t, "status", "-c", cfgPath, "--json")
		if code != exitOK {
			t.Fatalf("status --json %s: exit %d: %s", via, code, errs)
		}
		var doc statusDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("status --json %s: %v\n%s", via, err, out)
		}
		if doc.Version != statusVersion || len(doc.Pairs) != 2 {
			t.Fatalf("status --json %s: %+v", via, doc)
		}
		for _, p := range doc.Pairs {
			if p.Name == pair && (len(p.Cycles) != 2 || p.Parked != 1 || p.LastSuccess == nil || p.Cycles[0].Parked != 1) {
				t.Errorf("status --json %s: %s: %+v", via, pair, p)
			}
		}
		code, out, errs = run(t, "status", "-c", cfgPath, "--pair", pair, "--json")
		if code != exitOK {
			t.Fatalf("status --pair --json %s: exit %d: %s", via, code, errs)
		}
		doc = statusDoc{}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Pairs) != 1 || len(doc.Pairs[0].Users) != 1 {
			t.Fatalf("status --pair --json %s: %v\n%s", via, err, out)
		}
		if u := doc.Pairs[0].Users[0]; u.SourceID != mallory || u.DisplayName != hostileName || u.UPN != "mallory@"+src.Domain() || u.NextRetry == nil || u.Reason == "" {
			t.Errorf("status --pair --json %s: user %+v", via, u)
		}
		if want := map[string]string{"store": "directly", "daemon": "through the daemon"}[doc.From]; want != via {
			t.Errorf("status answered from %q %s", doc.From, via)
		}
	}
	check("directly")
	code, out, errs = run(t, "provision", "-c", cfgPath, "--pair", pair, "--user", mallory)
	checkEscaped(t, "provision", out, false)
	if code != exitFailures {
		t.Errorf("provision of mallory: exit %d: %s\n%s", code, out, errs)
	}

	// A daemon holds the embedded store: the commands ask its API.
	held, err := guestmap.Open(context.Background(), storePath, guestmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Wire(context.Background(), cfg, app.Options{Store: held})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mux := http.NewServeMux()
	apiRoutes(mux, a, newProgressHub(a))
	apiStateRoutes(mux, a, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer t0ken" })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	check("through the daemon")

	// approve goes through the daemon too, with the listener's token and
	// a JSON body; without them the API refuses.
	if code, out, errs := run(t, "approve", "-c", cfgPath, "--pair", pair); code != exitOK || !strings.Contains(out, "0 staged actions approved") {
		t.Errorf("approve through the daemon: exit %d: %s%s", code, out, errs)
	}
	for _, h := range []map[string]string{{"Content-Type": "application/json"}, {"Authorization": "Bearer t0ken", "Content-Type": "text/plain"}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/api/v1/decide", strings.NewReader(`{"pair":"`+pair+`","decision":"approved"}`))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST /api/v1/decide with %v: %s", h, res.Status)
		}
	}
	checkStateThroughDaemon(t, cfgPath, "http://"+ln.Addr().String(), a, pair)
	t.Setenv("CTSYNC_TEST_LISTEN_TOKEN", "wrong")
	if code, _, errs := run(t, "approve", "-c", cfgPath, "--pair", pair); code != exitFailures || !strings.Contains(errs, "401") {
		t.Errorf("approve with a wrong token: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, "reset", "-c", cfgPath, "--pair", pair, "--watermark"); code != exitFailures || !strings.Contains(errs, "401") {
		t.Errorf("reset with a wrong token: exit %d: %s", code, errs)
	}
}

// checkStateThroughDaemon runs `reset` and `map export|rebuild` while a,
// the daemon whose API answers at base, holds the embedded store: a held
// lease is refused with 409 and leaves the pair untouched, requests
// without the token or JSON are refused, reset --quarantine lifts the
// quarantine, reset --watermark makes the next cycle read in full, the
// exported lines are the store's map, and a rebuild gives the same map
// back.
func checkStateThroughDaemon(t *testing.T, cfgPath, base string, a *app.App, pair string) {
	ctx := context.Background()
	quarantined := func() bool {
		t.Helper()
		st, err := a.Store.Status(ctx, pair)
		if err != nil {
			t.Fatal(err)
		}
		return st.Quarantine.On
	}

	// A cycle of the pair holds its lease (the test plays it) and has
	// quarantined the pair.
	lease, err := a.Store.Acquire(ctx, pair, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Apply(ctx, lease, guestmap.Batch{Quarantine: &guestmap.Quarantine{On: true, Reason: "test", Since: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"reset", "--watermark"}, {"reset", "--quarantine", "--watermark"}, {"map", "rebuild"}} {
		code, out, errs := run(t, append(args, "-c", cfgPath, "--pair", pair)...)
		if code != exitFailures || !strings.Contains(errs, "409") || !strings.Contains(errs, "a cycle of the pair") || out != "" {
			t.Errorf("%v while a cycle holds the lease: exit %d: %s%s", args, code, out, errs)
		}
	}
	if !quarantined() {
		t.Error("reset --quarantine --watermark refused for the lease lifted the quarantine all the same")
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// Without the token, or without JSON, the API refuses and changes
	// nothing.
	for route, body := range map[string]string{"/api/v1/reset": `{"pair":"` + pair + `","quarantine":true}`, "/api/v1/map/rebuild": `{"pair":"` + pair + `"}`} {
		for _, c := range []struct {
			h    map[string]string
			want int
		}{
			{map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
			{map[string]string{"Authorization": "Bearer wrong", "Content-Type": "application/json"}, http.StatusUnauthorized},
			{map[string]string{"Authorization": "Bearer t0ken", "Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		} {
			req, _ := http.NewRequest(http.MethodPost, base+route, strings.NewReader(body))
			for k, v := range c.h {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Errorf("POST %s with %v: %s, want %d", route, c.h, res.Status, c.want)
			}
		}
	}
	if !quarantined() {
		t.Error("a refused POST /api/v1/reset lifted the quarantine")
	}

	if code, out, errs := run(t, "reset", "-c", cfgPath, "--pair", pair, "--quarantine"); code != exitOK || !strings.Contains(out, "quarantine lifted") {
		t.Errorf("reset --quarantine through the daemon: exit %d: %s%s", code, out, errs)
	}
	if quarantined() {
		t.Error("reset --quarantine through the daemon left the pair quarantined")
	}

	// The delta link is kept from cycle to cycle until reset --watermark
	// forgets it: the next cycle then reads the source in full.
	if rep := a.Pair(pair).Cycle(ctx); rep.Skipped != "" || rep.Full {
		t.Errorf("a cycle before reset --watermark: skipped %q, full %v, want a delta read", rep.Skipped, rep.Full)
	}
	if code, out, errs := run(t, "reset", "-c", cfgPath, "--pair", pair, "--watermark"); code != exitOK || !strings.Contains(out, "delta link forgotten") {
		t.Errorf("reset --watermark through the daemon: exit %d: %s%s", code, out, errs)
	}
	if rep := a.Pair(pair).Cycle(ctx); rep.Skipped != "" || !rep.Full {
		t.Errorf("the cycle after reset --watermark through the daemon: skipped %q, full %v, want a full read", rep.Skipped, rep.Full)
	}

	// map export prints the store's map, line for line.
	storeLines := func() string {
		t.Helper()
		var b strings.Builder
		err := a.Store.Scan(ctx, pair, func(page []guestmap.Entry) error {
			for _, en := range page {
				j, err := json.Marshal(en)
				if err != nil {
					return err
				}
				b.Write(j)
				b.WriteByte('\n')
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	export := func(when string) string {
		t.Helper()
		code, out, errs := run(t, "map", "export", "-c", cfgPath, "--pair", pair)
		if code != exitOK {
			t.Fatalf("map export %s: exit %d: %s", when, code, errs)
		}
		if want := storeLines(); out != want {
			t.Errorf("map export %s through the daemon:\n%s\nthe store has:\n%s", when, out, want)
		}
		return out
	}
	// map rebuild gives back every entry that has a guest, as it was
	// (Updated aside: the rebuild writes them); entries without a guest
	// (mallory, parked before any invitation) carry no stamp to find and
	// are removed, as the rebuild documents.
	mapped := func(lines string) (kept []guestmap.Entry, guestless int) {
		t.Helper()
		for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
			var en guestmap.Entry
			if err := json.Unmarshal([]byte(l), &en); err != nil {
				t.Fatalf("map export line %q: %v", l, err)
			}
			if en.GuestID == "" {
				guestless++
				continue
			}
			en.Updated = time.Time{}
			kept = append(kept, en)
		}
		return kept, guestless
	}
	before, guestless := mapped(export("before the rebuild"))
	if len(before) < 2 || guestless != 1 {
		t.Errorf("map export: %d entries with a guest (want eve and others), %d without (want mallory)", len(before), guestless)
	}
	want := fmt.Sprintf(": %d stamped guests read, %d mapped, %d entries removed, 0 of other pairs\n", len(before), len(before), guestless)
	if code, out, errs := run(t, "map", "rebuild", "-c", cfgPath, "--pair", pair); code != exitOK || out != pair+want {
		t.Errorf("map rebuild through the daemon: exit %d: %s%s\nwant %s%s", code, out, errs, pair, want)
	}
	if after, _ := mapped(export("after the rebuild")); !reflect.DeepEqual(after, before) {
		t.Errorf("map rebuild changed the map:\nbefore %+v\nafter  %+v", before, after)
	}
}
