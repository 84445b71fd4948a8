package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ctsyncBinary builds cmd/ctsync once for the package's process tests.
func ctsyncBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ctsync-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ctsync")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/ctsync/ctsync/cmd/ctsync").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// shortLease rewrites the harness's configuration with a short lease, so
// a killed process's lease expires quickly.
func (h *harness) shortLease() {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	s := strings.Replace(string(b), "interval = \"1m\"", "interval = \"1m\"\nlease_ttl = \"5s\"", 1)
	if err := os.WriteFile(h.cfgPath, []byte(s), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// onceProcess starts `ctsync once --pair` as a real process.
func (h *harness) onceProcess(ctx context.Context) (*exec.Cmd, *bytes.Buffer) {
	h.t.Helper()
	cmd := exec.CommandContext(ctx, ctsyncBinary(h.t), "once", "--pair", pairName, "-c", h.cfgPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd, &out
}

// assertOneGuestEach checks every in-scope source member has exactly one
// stamped guest and that the target holds no other invited user.
func (h *harness) assertOneGuestEach(ids []string) {
	h.t.Helper()
	for _, id := range ids {
		if n := h.stamped(id); n != 1 {
			h.t.Errorf("source user %s has %d stamped guests", id, n)
		}
	}
	invited := 0
	for _, u := range h.dst.Users() {
		if u.Attrs["creationType"] == "Invitation" {
			invited++
		}
	}
	if invited != len(ids) {
		h.t.Errorf("target has %d invited users for %d source users", invited, len(ids))
	}
}

// TestTwoProcessesSamePairNoDuplicates runs two `ctsync once` processes
// on the same pair at the same time, sharing one Redis.
func TestTwoProcessesSamePairNoDuplicates(t *testing.T) {
	h := newHarness(t, setup{})
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Lee Twin%02d", i)}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, outA := h.onceProcess(ctx)
	b, outB := h.onceProcess(ctx)
	errA, errB := a.Wait(), b.Wait()
	// One runs the pair; the other finds its lease held and exits 3
	// (naming the holder), unless it started after the first one ended.
	okOrHeld := func(err error) bool {
		var ee *exec.ExitError
		return err == nil || (errors.As(err, &ee) && ee.ExitCode() == 3)
	}
	if !okOrHeld(errA) || !okOrHeld(errB) || (errA != nil && errB != nil) {
		t.Fatalf("processes failed: %v / %v\n%s\n%s", errA, errB, outA, outB)
	}
	both := outA.String() + outB.String()
	if (errA != nil || errB != nil) && !strings.Contains(both, "holds the pair's lease") {
		t.Errorf("the process that exited 3 did not say the lease was held:\n%s", both)
	}
	if !strings.Contains(both, "40 create") {
		t.Errorf("neither process created the 40 guests:\n%s", both)
	}
	h.assertOneGuestEach(ids)
}

// TestCrashMidCycleNoDuplicates kills a `ctsync once` process with SIGKILL
// while it is inviting, then lets a new process finish: every user ends
// with exactly one guest (the crash-safe create path adopts the guests
// invited just before the crash instead of inviting again).
func TestCrashMidCycleNoDuplicates(t *testing.T) {
	h := newHarness(t, setup{})
	h.shortLease()
	var ids []string
	for i := 0; i < 60; i++ {
		ids = append(ids, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Max Crash%02d", i)}))
	}
	// Slow Graph down so the kill lands mid-cycle.
	rz := h.sim.Realism()
	rz.Latency = graphsim.Latency{Median: 15 * time.Millisecond, P99: 40 * time.Millisecond}
	h.sim.SetRealism(rz)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, out := h.onceProcess(ctx)
	deadline := time.Now().Add(time.Minute)
	for h.sim.Stats().Tenants["fabrikam"].Invitations < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("the process never got to inviting:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	invitedBefore := h.sim.Stats().Tenants["fabrikam"].Invitations
	if invitedBefore >= int64(len(ids)) {
		t.Fatalf("the kill came after every invitation (%d)", invitedBefore)
	}
	rz.Latency = graphsim.Latency{}
	h.sim.SetRealism(rz)
	time.Sleep(6 * time.Second) // the dead process's lease (5s) expires
	for i := 0; i < 3; i++ {
		cmd, out = h.onceProcess(ctx)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("second process: %v\n%s", err, out)
		}
		if !strings.Contains(out.String(), "skipped") {
			break
		}
		time.Sleep(2 * time.Second)
	}
	h.retryParkedNow()
	h.converge()
	h.assertOneGuestEach(ids)
}
