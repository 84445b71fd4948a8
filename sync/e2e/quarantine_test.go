package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
)

// useTargetApp points the configuration's target tenant at another app
// registration (for example one lacking a permission) and rewires.
func (h *harness) useTargetApp(clientID, secret string) {
	h.t.Helper()
	secretFile := filepath.Join(h.t.TempDir(), "fabrikam-limited.secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		h.t.Fatal(err)
	}
	cfg := app.SimConfig(h.sim, config.Store{URL: h.redis.URL()}, h.policy)
	cfg = strings.Replace(cfg, fmt.Sprintf("client_id = %q", h.dst.ClientID()), fmt.Sprintf("client_id = %q", clientID), 1)
	cfg = strings.Replace(cfg, fmt.Sprintf("client_secret_file = %q", h.sim.SecretFile("fabrikam")), fmt.Sprintf("client_secret_file = %q", secretFile), 1)
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.app.Close()
	h.app = h.wire()
}

// TestQuarantine: an app that may only read the target fails
// every invitation (403 per user, parked, the others go on); past the
// failure ratio the pair is quarantined until an admin resets it, and
// after the fix the parked users are retried and synced.
func TestQuarantine(t *testing.T) {
	h := newHarness(t, setup{})
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Ray Q%02d", i)}))
	}
	clientID, secret := h.dst.AddApp("User.Read.All") // reads, but may not invite
	h.useTargetApp(clientID, secret)
	r := h.app.Runner().Once(h.ctx)[0]
	if r.Err != nil {
		t.Fatalf("a 403 per user stopped the pair: %v", r.Err)
	}
	if r.Failures != len(ids) || !r.Quarantined {
		t.Fatalf("failures %d, quarantined %v: %v", r.Failures, r.Quarantined, r.Counts)
	}
	st, err := h.app.Store.Status(h.ctx, pairName)
	if err != nil || !st.Quarantine.On || !strings.Contains(st.Quarantine.Reason, "12 of 12") {
		t.Fatalf("status: %+v %v", st.Quarantine, err)
	}
	// The admin grants the permission (back to the full app) and lifts
	// the quarantine; parked users are retried when due.
	h.setPolicy(h.policy)
	if err := h.app.Store.ClearQuarantine(h.ctx, pairName); err != nil {
		t.Fatal(err)
	}
	h.retryParkedNow()
	h.converge()
	for _, id := range ids {
		h.mustGuest(id)
	}
	if st, _ := h.app.Store.Status(h.ctx, pairName); st.Quarantine.On || st.Counts["parked"] != 0 {
		t.Errorf("after the fix: quarantine %v, parked %d", st.Quarantine.On, st.Counts["parked"])
	}
}
