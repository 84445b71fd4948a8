package e2e

import (
	"errors"
	"testing"

	"github.com/ctsync/ctsync/sync/worker"
)

// TestReviewedPlanAppliesExactly: a reviewed plan is applied when nothing
// moved on since it was made, and refused, with nothing written, once the
// source changed.
func TestReviewedPlanAppliesExactly(t *testing.T) {
	h := newHarness(t, setup{users: 5})
	p := h.app.Pair(pairName)
	pl, err := p.Plan(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Digest == "" || len(pl.Changes) == 0 {
		t.Fatalf("plan %d changes, digest %q", len(pl.Changes), pl.Digest)
	}
	r := worker.Reviewed{Pair: p, Digest: pl.Digest}.Cycle(h.ctx)
	if r.Err != nil || r.Counts["create"] != pl.Counts()["create"] || r.Counts["create"] == 0 {
		t.Fatalf("reviewed cycle: %v, counts %v; the plan had %v", r.Err, r.Counts, pl.Counts())
	}

	// A second plan, then a change at the source before it is applied.
	ada := h.addMember(h.src, map[string]any{"displayName": "Ada Lovelace"})
	pl2, err := p.Plan(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.src.UpdateUser(ada, map[string]any{"jobTitle": "Analyst"}); err != nil {
		t.Fatal(err)
	}
	before := h.writes()
	r = worker.Reviewed{Pair: p, Digest: pl2.Digest}.Cycle(h.ctx)
	if !errors.Is(r.Err, worker.ErrPlanMoved) {
		t.Fatalf("a plan the source moved past was applied: %v %v", r.Err, r.Counts)
	}
	if w := h.writes() - before; w != 0 {
		t.Errorf("%d writes to the target under a refused plan", w)
	}
	// Planned again, it applies.
	pl3, err := p.Plan(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r = (worker.Reviewed{Pair: p, Digest: pl3.Digest}).Cycle(h.ctx); r.Err != nil || r.Counts["create"] != 1 {
		t.Fatalf("fresh plan: %v %v", r.Err, r.Counts)
	}
}
