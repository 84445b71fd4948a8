package e2e

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/guestmap"
)

// A manager reference the target refuses (here: the report's guest holds an
// admin role, so the app may not write it) parks the report with the
// reason; once the target allows it, a later cycle writes the manager,
// although the report never changed at the source again.
func TestFailedManagerWriteIsParkedAndRetried(t *testing.T) {
	h := newHarness(t, setup{users: 5})
	boss := h.addMember(h.src, map[string]any{"displayName": "Bea Boss", "accountEnabled": false})
	report := h.addMember(h.src, map[string]any{"displayName": "Ray Report", "manager": boss})
	h.converge()
	g := h.mustGuest(report)
	if m := g.Attrs["manager"]; m != nil {
		t.Fatalf("report's guest has manager %v before the manager has a guest", m)
	}
	if err := h.dst.AssignAdminRole(g.ID); err != nil {
		t.Fatal(err)
	}

	// The manager is enabled: it gets a guest, and the report's manager
	// reference is refused.
	if err := h.src.UpdateUser(boss, map[string]any{"accountEnabled": true}); err != nil {
		t.Fatal(err)
	}
	r := h.once()
	if r.Counts["create"] != 1 || r.Failures != 1 {
		t.Fatalf("cycle with the refused manager write: %+v", r)
	}
	e, ok, err := h.app.Store.Get(h.ctx, pairName, report)
	if err != nil || !ok || e.State != guestmap.StateParked || !strings.Contains(e.LastError, "manager") {
		t.Fatalf("report's entry: %+v %v %v, want parked with a manager error", e, ok, err)
	}

	// Allowed again: the retry writes the manager.
	h.dst.RemoveAdminRole(g.ID)
	h.retryParkedNow()
	h.converge()
	bossGuest := h.mustGuest(boss)
	if m := h.mustGuest(report).Attrs["manager"]; m != bossGuest.ID {
		t.Fatalf("report's guest manager = %v, want %s", m, bossGuest.ID)
	}
	if e, _, _ := h.app.Store.Get(h.ctx, pairName, report); e.State != guestmap.StateActive || e.ManagerSourceID != boss {
		t.Fatalf("report's entry after the retry: %+v", e)
	}
}
