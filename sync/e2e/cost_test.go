package e2e

import (
	"fmt"
	"testing"
)

// TestNoChangeCycleCostsOneDeltaRound: with 10,000 source users (a few in
// scope), a cycle where nothing changed costs one Graph request per pair:
// the delta round, answered with no changes. Nothing in the target.
func TestNoChangeCycleCostsOneDeltaRound(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 users")
	}
	h := newHarness(t, setup{users: 10000, policy: "[pair.scope]\nall_members = true\n[[pair.scope.filter]]\nclause = [{ attribute = \"department\", operator = \"EQUALS\", value = \"Pilot\" }]\n"})
	for i := 0; i < 5; i++ {
		h.addMember(h.src, map[string]any{"displayName": fmt.Sprintf("Pia Pilot%d", i), "department": "Pilot"})
	}
	reps := h.converge()
	if reps[0].Counts["create"] != 5 {
		t.Fatalf("first cycle: %v", reps[0].Counts)
	}
	h.sim.ResetStats()
	if r := h.once(); changes(r) != 0 {
		t.Fatalf("no-change cycle changed things: %v", r.Counts)
	}
	st := h.sim.Stats()
	src, dst := st.Tenants["contoso"], st.Tenants["fabrikam"]
	if src.Requests != 1 || src.Routes["GET /users/delta"] != 1 {
		t.Errorf("source requests: %d %v, want one delta round", src.Requests, src.Routes)
	}
	if dst.Requests != 0 {
		t.Errorf("target requests: %d %v, want none", dst.Requests, dst.Routes)
	}
}
