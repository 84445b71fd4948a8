package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ctsync runs one ctsync command as a real process and returns its exit
// code and output.
func (h *harness) ctsync(args ...string) (int, string) {
	h.t.Helper()
	return runCtsync(h.t, h.cfgPath, 2*time.Minute, args...)
}

// runCtsync runs `ctsync ARGS -c cfgPath` as a real process, killed after
// limit, and returns its exit code and combined output.
func runCtsync(t testing.TB, cfgPath string, limit time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctsyncBinary(t), append(args, "-c", cfgPath)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("ctsync %v: %v", args, err)
	}
	return 0, out.String()
}

func (h *harness) mustCtsync(args ...string) string {
	h.t.Helper()
	code, out := h.ctsync(args...)
	if code != 0 {
		h.t.Fatalf("ctsync %v: exit %d\n%s", args, code, out)
	}
	return out
}

// TestCLI drives the admin's commands as real processes: plan, once,
// provision, status, logs, map export, reset and map rebuild.
func TestCLI(t *testing.T) {
	h := newHarness(t, setup{users: 20})
	nia := h.addMember(h.src, map[string]any{"displayName": "Nia Cli", "department": "Engineering"})

	var doc struct {
		Pairs []struct {
			Pair   string         `json:"pair"`
			Counts map[string]int `json:"counts"`
		} `json:"pairs"`
	}
	out := h.mustCtsync("plan", "--pair", pairName, "--json")
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &doc); err != nil || len(doc.Pairs) != 1 || doc.Pairs[0].Pair != pairName || doc.Pairs[0].Counts["create"] == 0 {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	plan := doc.Pairs[0]
	if h.writes() != 0 {
		t.Fatalf("plan wrote to the target")
	}
	out = h.mustCtsync("once", "--pair", pairName)
	if !strings.Contains(out, pairName) || !strings.Contains(out, fmt.Sprintf("%d create", plan.Counts["create"])) {
		t.Fatalf("once:\n%s", out)
	}
	if out := h.mustCtsync("plan", "--pair", pairName); !strings.Contains(out, "no changes") {
		t.Errorf("plan after once:\n%s", out)
	}

	// Provision on demand shows Entra's steps.
	if err := h.src.UpdateUser(nia, map[string]any{"jobTitle": "Staff Engineer"}); err != nil {
		t.Fatal(err)
	}
	out = h.mustCtsync("provision", "--pair", pairName, "--user", "nia.cli@contoso.onmicrosoft.com")
	for _, step := range []string{"import", "scope", "in scope", "match", "mapped to guest", "action", "update"} {
		if !strings.Contains(out, step) {
			t.Errorf("provision output lacks %q:\n%s", step, out)
		}
	}
	if g := h.mustGuest(nia); g.Attrs["jobTitle"] != "Staff Engineer" {
		t.Errorf("provision did not update: %v", g.Attrs["jobTitle"])
	}
	if code, out := h.ctsync("provision", "--pair", pairName, "--user", "nobody@contoso.onmicrosoft.com"); code != 1 || !strings.Contains(out, "import") {
		t.Errorf("provision of an unknown user: exit %d\n%s", code, out)
	}

	out = h.mustCtsync("status", "--pair", pairName)
	if !strings.Contains(out, pairName) || !strings.Contains(out, "ago") {
		t.Errorf("status:\n%s", out)
	}
	if out := h.mustCtsync("logs", "--pair", pairName, "--user", nia); !strings.Contains(out, "jobTitle") {
		t.Errorf("logs for nia:\n%s", out)
	}
	if out := h.mustCtsync("logs", "--since", "1h", "--action", "create", "--json"); strings.Count(out, `"action":"create"`) != plan.Counts["create"] {
		t.Errorf("logs --action create --since 1h: want %d records:\n%s", plan.Counts["create"], out)
	}
	if code, out := h.ctsync("logs", "--since", "yesterday"); code != 2 || !strings.Contains(out, "--since") {
		t.Errorf("logs with a bad --since: exit %d\n%s", code, out)
	}
	export := h.mustCtsync("map", "export", "--pair", pairName)
	mapped := strings.Count(export, "\"sourceId\"")
	if mapped == 0 {
		t.Fatalf("map export is empty:\n%s", export)
	}

	// Lose the map, rebuild it from the stamps in the target: the next
	// cycle creates nothing.
	h.mustCtsync("reset", "--pair", pairName, "--map")
	if n, _ := h.app.Store.Count(h.ctx, pairName); n != 0 {
		t.Fatalf("reset --map left %d entries", n)
	}
	out = h.mustCtsync("map", "rebuild", "--pair", pairName)
	if !strings.Contains(out, fmt.Sprintf("%d mapped", mapped)) {
		t.Errorf("rebuild:\n%s", out)
	}
	before := h.sim.Stats().Tenants["fabrikam"].Invitations
	out = h.mustCtsync("once", "--pair", pairName)
	if strings.Contains(out, " create") || h.sim.Stats().Tenants["fabrikam"].Invitations != before {
		t.Errorf("after a rebuild the cycle invited again:\n%s", out)
	}

	// Usage errors exit 2.
	if code, _ := h.ctsync("provision", "--pair", pairName); code != 2 {
		t.Errorf("provision without --user: exit %d", code)
	}
	if code, _ := h.ctsync("once", "--pair", "no-such-pair"); code != 2 {
		t.Errorf("once with an unknown pair: exit %d", code)
	}
}

// TestRunDaemon starts `ctsync run`, triggers a sync through POST /sync
// and SIGHUP, reads /metrics, and stops it with SIGTERM.
func TestRunDaemon(t *testing.T) {
	h := newHarness(t, setup{users: 10})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b, _ := os.ReadFile(h.cfgPath)
	tokenFile := filepath.Join(t.TempDir(), "listen-token")
	if err := os.WriteFile(tokenFile, []byte("run-daemon-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "interval = \"1m\"", "interval = \"1h\"\nlisten = \""+addr+"\"\nlisten_token_file = \""+tokenFile+"\"", 1)
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ctsyncBinary(t), "run", "-c", h.cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; output:\n%s", what, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the first cycles", func() bool {
		return strings.Contains(get("/metrics"), `ctsync_cycles_total{pair="`+pairName+`",result="ok"} 1`)
	})
	// A joiner waits for the hour-long interval, unless someone says now.
	pia := h.addMember(h.src, map[string]any{"displayName": "Pia Now"})
	req, _ := http.NewRequest("POST", "http://"+addr+"/sync", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer run-daemon-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /sync: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor("the joiner's guest", func() bool { _, ok := h.guest(pia); return ok })
	// SIGHUP does the same.
	quinn := h.addMember(h.src, map[string]any{"displayName": "Quinn Hup"})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the second joiner's guest", func() bool { _, ok := h.guest(quinn); return ok })
	if m := get("/metrics"); !strings.Contains(m, `ctsync_actions_total{action="create",pair="`+pairName+`"}`) {
		t.Errorf("metrics:\n%s", m)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run did not stop cleanly: %v\n%s", err, out.String())
	}
	// The lease was released on the way out: another holder gets it now.
	lease, err := h.app.Store.Acquire(h.ctx, pairName, time.Minute)
	if err != nil {
		t.Fatalf("lease not released at shutdown: %v", err)
	}
	lease.Release(h.ctx)
}
