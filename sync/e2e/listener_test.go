package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// lockedBuffer is a daemon's stderr, read while it is written.
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

// daemon is `ctsync run` as a real process with its listener on a free
// loopback port.
type daemon struct {
	t     *testing.T
	cmd   *exec.Cmd
	log   *lockedBuffer
	url   string // http://127.0.0.1:port
	token string
	done  chan struct{}
}

var listenAddrRE = regexp.MustCompile(`serving the status page[^\n]*?addr"?[=:]"?(127\.0\.0\.1:\d+)`)

// listenerConfig writes a copy of the harness's configuration with the
// listener on a free loopback port and a token file; edit amends the
// TOML. It returns the path and the token.
func (h *harness) listenerConfig(edit func(string) string) (string, string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	dir := h.t.TempDir()
	token := "listener-t0ken-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(dir, "listen-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	s := strings.Replace(string(b), "interval = \"1m\"",
		fmt.Sprintf("interval = \"1m\"\nlisten = \"127.0.0.1:0\"\nlisten_token_file = %q", tokenFile), 1)
	if edit != nil {
		s = edit(s)
	}
	path := filepath.Join(dir, "ctsync.toml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path, token
}

// startDaemon starts `ctsync run -c cfg` and waits (at most a minute) for
// its listener's address in the log. The process is stopped at cleanup.
func startDaemon(t *testing.T, cfg, token string) *daemon {
	t.Helper()
	d := &daemon{t: t, log: &lockedBuffer{}, token: token, done: make(chan struct{})}
	d.cmd = exec.Command(ctsyncBinary(t), "run", "-c", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.stop)
	deadline := time.Now().Add(time.Minute)
	for {
		if m := listenAddrRE.FindStringSubmatch(d.log.String()); m != nil {
			d.url = "http://" + m[1]
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("ctsync run exited before listening:\n%s", d.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctsync run never said where it listens:\n%s", d.log)
		}
	}
}

// stop sends SIGTERM and waits (at most 30s) before killing.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// client is a plain HTTP client for the loopback listener.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}

// get returns a GET's status and body (status 0 and the error's text when
// the request failed).
func (d *daemon) get(path string) (int, string) {
	resp, err := client.Get(d.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends POST /sync with the given token ("" none) and content type.
func (d *daemon) post(token, ctype string, header map[string]string) int {
	req, err := http.NewRequest("POST", d.url+"/sync", strings.NewReader("{}"))
	if err != nil {
		d.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		d.t.Errorf("POST /sync: %v", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitProbe polls path (every 200ms, at most limit) until ok accepts the
// answer, failing the test with the last answer otherwise.
func (d *daemon) waitProbe(path string, limit time.Duration, what string, ok func(int, string) bool) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := d.get(path)
		if ok(code, body) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: %s never came; last answer %d:\n%s\nlog:\n%s", path, what, code, body, d.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cycles counts the finished cycles of pair in the daemon's log.
func (d *daemon) cycles(pair string) int {
	n := 0
	for _, line := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(line, "cycle done") || strings.Contains(line, "cycle failed") || strings.Contains(line, "cycle skipped") {
			if strings.Contains(line, "pair="+pair+" ") || strings.Contains(line, `"pair":"`+pair+`"`) {
				n++
			}
		}
	}
	return n
}

// waitCycles waits (at most limit) until every pair finished n cycles.
func (d *daemon) waitCycles(pairs []string, n int, limit time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		all := true
		for _, p := range pairs {
			if d.cycles(p) < n {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the pairs never finished %d cycles:\n%s", n, d.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var meshPairs = []string{"contoso-to-fabrikam", "fabrikam-to-contoso"}

// syncNowQuiet is how long sync-now requests must be quiet before the
// cycle answering them starts (worker.Runner.SyncNowQuiet's default): a
// burst shorter than that has no gap that long, so it is answered by one
// cycle per pair.
const syncNowQuiet = 2 * time.Second

// TestListenerRefusesAndCoalesces: against `ctsync run`, POST /sync
// without the token or as text/plain (a browser's cross-site simple
// request) is refused, the token never reaches the log, and a burst of
// 1,000 authorised POSTs causes at most one extra cycle per pair.
func TestListenerRefusesAndCoalesces(t *testing.T) {
	h := newHarness(t, setup{users: 5})
	cfg, token := h.listenerConfig(nil)
	d := startDaemon(t, cfg, token)
	d.waitCycles(meshPairs, 1, time.Minute)

	evil := map[string]string{"Origin": "https://evil.example"}
	for _, tc := range []struct {
		name, token, ctype string
		header             map[string]string
		want               int
	}{
		{"cross-site text/plain, no token", "", "text/plain", evil, http.StatusUnauthorized},
		{"JSON without a token", "", "application/json", nil, http.StatusUnauthorized},
		{"JSON with a wrong token", "not-the-token", "application/json", nil, http.StatusUnauthorized},
		{"text/plain with the token", token, "text/plain", nil, http.StatusUnsupportedMediaType},
		{"a form with the token", token, "application/x-www-form-urlencoded", evil, http.StatusUnsupportedMediaType},
	} {
		if got := d.post(tc.token, tc.ctype, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if code, body := d.get("/livez"); code != http.StatusOK {
		t.Errorf("/livez: %d %s", code, body)
	}
	if d.cycles(meshPairs[0]) != 1 || d.cycles(meshPairs[1]) != 1 {
		t.Fatalf("refused requests started cycles:\n%s", d.log)
	}

	// A burst: 1,000 POSTs from 50 clients at once.
	before := map[string]int{}
	for _, p := range meshPairs {
		before[p] = d.cycles(p)
	}
	start := time.Now()
	var accepted atomic.Int32
	var sentMu sync.Mutex
	var sent []time.Time
	var wg sync.WaitGroup
	jobs := make(chan struct{}, 1000)
	for range 1000 {
		jobs <- struct{}{}
	}
	close(jobs)
	for range 50 {
		wg.Go(func() {
			for range jobs {
				sentMu.Lock()
				sent = append(sent, time.Now())
				sentMu.Unlock()
				if d.post(token, "application/json", nil) == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	burst := time.Since(start)
	// The bound holds for a burst without a pause as long as the quiet
	// period that ends it; on a machine slow enough to pause that long
	// mid-burst the check would measure the machine, not ctsync.
	slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(sent); i++ {
		gap = max(gap, sent[i].Sub(sent[i-1]))
	}
	if accepted.Load() != 1000 {
		t.Errorf("%d of 1,000 authorised POSTs accepted", accepted.Load())
	}
	// Every pair runs its one extra cycle...
	for _, p := range meshPairs {
		d.waitCycles([]string{p}, before[p]+1, time.Minute)
	}
	// ...and no other comes (the interval is a minute; watch a few
	// seconds more).
	time.Sleep(2 * syncNowQuiet)
	if gap >= syncNowQuiet/2 {
		t.Logf("the burst paused %s between two requests, near the quiet period that ends it: not checking the upper bound", gap)
	} else {
		for _, p := range meshPairs {
			if extra := d.cycles(p) - before[p]; extra > 1 {
				t.Errorf("pair %s: %d extra cycles after a burst of 1,000 POSTs, want at most 1", p, extra)
			}
		}
	}
	if strings.Contains(d.log.String(), token) {
		t.Error("the token is in the daemon's log")
	}
	t.Logf("burst of 1,000 POSTs in %s (longest pause %s); cycles per pair before %v, after %d/%d", burst.Round(time.Millisecond), gap.Round(time.Millisecond), before, d.cycles(meshPairs[0]), d.cycles(meshPairs[1]))
}

// TestReadyz: /readyz is unready while a tenant's credential never signed
// in (a wrong secret) and while the store is down, and ready again once
// the secret is right (after a restart: secrets are read at start) and the
// store is back; /livez stays ok throughout.
func TestReadyz(t *testing.T) {
	t.Parallel()
	h := newHarness(t, setup{users: 3})
	wrong := filepath.Join(t.TempDir(), "wrong-secret")
	if err := os.WriteFile(wrong, []byte("not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := h.sim.SecretFile("contoso")
	cfg, token := h.listenerConfig(func(s string) string {
		return strings.Replace(s, fmt.Sprintf("client_secret_file = %q", good), fmt.Sprintf("client_secret_file = %q", wrong), 1)
	})
	d := startDaemon(t, cfg, token)
	d.waitProbe("/readyz", time.Minute, "fabrikam signed in, contoso not", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "ok tenant fabrikam") &&
			strings.Contains(body, "FAIL tenant contoso") && strings.Contains(body, "ok store")
	})
	if code, body := d.get("/livez"); code != http.StatusOK {
		t.Errorf("/livez with a wrong secret: %d %s", code, body)
	}
	d.stop()

	cfg, token = h.listenerConfig(nil)
	d = startDaemon(t, cfg, token)
	d.waitProbe("/readyz", time.Minute, "ready", func(code int, _ string) bool { return code == http.StatusOK })

	h.redis.Kill()
	d.waitProbe("/readyz", 30*time.Second, "unready with the store down", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "FAIL store")
	})
	if code, body := d.get("/livez"); code != http.StatusOK {
		t.Errorf("/livez with the store down: %d %s", code, body)
	}
	h.redis.Restart()
	d.waitProbe("/readyz", time.Minute, "ready again with the store back", func(code int, _ string) bool { return code == http.StatusOK })
}

// idleHelperEnv makes the test binary a helper process holding idle
// connections (TestIdleConnHelper): one process cannot hold 20,000 on a
// machine whose descriptor limit is 20,000.
const idleHelperEnv = "CTSYNC_IDLE_HELPER"

// TestIdleConnHelper is not a test: run as a child process by
// TestIdleConnectionsDoNotStopLivez, it opens idle connections to
// $CTSYNC_IDLE_HELPER from a loopback source address, says how many it
// holds, and keeps them until its stdin closes (at most two minutes).
func TestIdleConnHelper(t *testing.T) {
	target := os.Getenv(idleHelperEnv)
	if target == "" {
		t.Skip("a helper process of TestIdleConnectionsDoNotStopLivez")
	}
	n, _ := strconv.Atoi(os.Getenv("CTSYNC_IDLE_N"))
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(os.Getenv("CTSYNC_IDLE_FROM"))}}
	var mu sync.Mutex
	var conns []net.Conn
	var failed atomic.Int32
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for range jobs {
				c, err := dialer.Dial("tcp", target)
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("held %d failed %d\n", len(conns), failed.Load())
	stdin := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdin) }()
	select {
	case <-stdin:
	case <-time.After(2 * time.Minute):
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestIdleConnectionsDoNotStopLivez opens 20,000 idle connections to the
// daemon's listener (from two helper processes, loopback only) and checks
// /livez still answers while they are held.
func TestIdleConnectionsDoNotStopLivez(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 20,000 connections")
	}
	h := newHarness(t, setup{users: 2})
	cfg, token := h.listenerConfig(nil)
	d := startDaemon(t, cfg, token)
	d.waitProbe("/livez", time.Minute, "live", func(code int, _ string) bool { return code == http.StatusOK })
	target := strings.TrimPrefix(d.url, "http://")

	const perHelper, helpers = 10000, 2
	held := 0
	for i := range helpers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnHelper$", "-test.v")
		cmd.Env = append(os.Environ(), idleHelperEnv+"="+target, fmt.Sprintf("CTSYNC_IDLE_N=%d", perHelper),
			fmt.Sprintf("CTSYNC_IDLE_FROM=127.0.0.%d", i+2))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		line := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "held ") {
					line <- sc.Text()
					break
				}
			}
			_, _ = io.Copy(io.Discard, stdout)
		}()
		select {
		case l := <-line:
			var n, failed int
			_, _ = fmt.Sscanf(l, "held %d failed %d", &n, &failed)
			held += n
			t.Logf("helper %d: %s", i, l)
		case <-ctx.Done():
			cancel()
			t.Fatal("a helper never finished dialling")
		}
		cancel()
	}
	if held < helpers*perHelper*9/10 {
		t.Fatalf("only %d of %d connections opened", held, helpers*perHelper)
	}
	// While they are held, a probe on a fresh connection is answered.
	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	for attempt := 1; attempt <= 10; attempt++ {
		resp, err := probe.Get(d.url + "/livez")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("/livez answered %q on attempt %d with %d idle connections held", strings.TrimSpace(string(b)), attempt, held)
				if !strings.Contains(d.log.String(), "connection cap") {
					t.Error("the daemon never said it reached its connection cap")
				}
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("/livez did not answer with %d idle connections held: %s\n%s", held, last, d.log)
}

// TestSyncNowRespectsQuarantine: a pair quarantined in the store is not
// cycled early by POST /sync (the other pair is); once an admin lifts the
// quarantine, a POST cycles it again.
func TestSyncNowRespectsQuarantine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, setup{users: 3})
	cfg, token := h.listenerConfig(nil)
	d := startDaemon(t, cfg, token)
	d.waitCycles(meshPairs, 1, time.Minute)
	quarantined, other := meshPairs[0], meshPairs[1]

	// Quarantine the pair as a cycle would (under its lease; the daemon
	// holds it only while cycling).
	deadline := time.Now().Add(30 * time.Second)
	for {
		lease, err := h.app.Store.Acquire(h.ctx, quarantined, 10*time.Second)
		if err == nil {
			q := guestmap.Quarantine{On: true, Since: time.Now(), Reason: "test: quarantined by hand"}
			err = h.app.Store.Apply(h.ctx, lease, guestmap.Batch{Quarantine: &q})
			_ = lease.Release(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("take the lease of %s: %v", quarantined, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := map[string]int{quarantined: d.cycles(quarantined), other: d.cycles(other)}
	for range 3 {
		if code := d.post(token, "application/json", nil); code != http.StatusAccepted {
			t.Fatalf("POST /sync: %d", code)
		}
	}
	d.waitCycles([]string{other}, before[other]+1, time.Minute)
	time.Sleep(2 * syncNowQuiet) // the quarantined pair's request was quiet as long
	if n := d.cycles(quarantined); n != before[quarantined] {
		t.Errorf("the quarantined pair ran %d cycles on request:\n%s", n-before[quarantined], d.log)
	}
	if !strings.Contains(d.log.String(), "sync-now request ignored: the pair is quarantined") {
		t.Errorf("the daemon did not say it ignored the request:\n%s", d.log)
	}

	if err := h.app.Store.ClearQuarantine(h.ctx, quarantined); err != nil { // ctsync reset --quarantine
		t.Fatal(err)
	}
	if code := d.post(token, "application/json", nil); code != http.StatusAccepted {
		t.Fatalf("POST /sync: %d", code)
	}
	d.waitCycles([]string{quarantined}, before[quarantined]+1, time.Minute)
}
