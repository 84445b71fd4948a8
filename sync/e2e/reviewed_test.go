package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

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

// TestPlanOutOncePlan: `plan --out FILE` then `once --plan FILE` applies
// the reviewed plan; a plan the source moved past is refused (exit 1, the
// reason said, nothing written) and a fresh one applies.
func TestPlanOutOncePlan(t *testing.T) {
	h := newHarness(t, setup{users: 4})
	file := filepath.Join(t.TempDir(), "reviewed.json")
	out := h.mustCtsync("plan", "--out", file)
	if !strings.Contains(out, "once -c") || !strings.Contains(out, "--plan "+file) {
		t.Errorf("plan --out did not say how to apply it:\n%s", out)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file: %v %v", st, err)
	}
	if out := h.mustCtsync("once", "--plan", file); !strings.Contains(out, "create") {
		t.Fatalf("once --plan created nothing:\n%s", out)
	}

	h.addMember(h.src, map[string]any{"displayName": "Grace Hopper"})
	h.mustCtsync("plan", "--out", file)
	h.addMember(h.src, map[string]any{"displayName": "Katherine Johnson"})
	before := h.writes()
	code, out := h.ctsync("once", "--plan", file)
	if code != 1 || !strings.Contains(out, "moved on since the plan") {
		t.Fatalf("a stale plan: exit %d\n%s", code, out)
	}
	if w := h.writes() - before; w != 0 {
		t.Errorf("%d writes under a refused plan", w)
	}
	h.mustCtsync("plan", "--out", file)
	if out := h.mustCtsync("once", "--plan", file); !strings.Contains(out, "2 create") {
		t.Errorf("a fresh plan did not create the two users:\n%s", out)
	}
	// Not a plan, another version, a pair not configured: usage errors.
	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, doc := range []string{`{"version": 99, "pairs": []}`, `not json`, `{"version": 1, "pairs": [{"pair": "nope", "digest": "x"}]}`} {
		if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := h.ctsync("once", "--plan", bad); code != 2 || !strings.Contains(out, "--plan") {
			t.Errorf("plan file %q: exit %d\n%s", doc, code, out)
		}
	}
}

// TestPlanNotesStampsOfALostStore: with the store emptied after a sync, a
// plan says the first real cycle will map the target's stamped guests
// first (which a dry run cannot show); that cycle rebuilds the map and
// invites nobody again.
func TestPlanNotesStampsOfALostStore(t *testing.T) {
	h := newHarness(t, setup{users: 6})
	created := h.converge()[0].Counts["create"]
	if created == 0 {
		t.Fatal("nothing synced")
	}
	if err := redis.NewClient(&redis.Options{Addr: h.redis.Addr()}).FlushAll(h.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	pl, err := h.app.Pair(pairName).Plan(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Notes) != 1 || !strings.Contains(pl.Notes[0], fmt.Sprintf("%d guests in the target carry its stamps", created)) {
		t.Errorf("plan notes %q; want one naming the %d stamped guests", pl.Notes, created)
	}
	before := len(h.dst.Users())
	r := h.once()
	if r.Recovered != created || r.Counts["create"] != 0 || len(h.dst.Users()) != before {
		t.Errorf("recovery cycle: recovered %d of %d, counts %v, target users %d -> %d", r.Recovered, created, r.Counts, before, len(h.dst.Users()))
	}
	if pl, err := h.app.Pair(pairName).Plan(h.ctx); err != nil || len(pl.Notes) != 0 {
		t.Errorf("after the rebuild: notes %q, %v", pl.Notes, err)
	}
}
