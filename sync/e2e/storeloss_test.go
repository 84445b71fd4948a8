package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestStoreLossRecovers loses the store under a `ctsync run` replica in
// the middle of the mesh's initial sync (issue 11), by FLUSHALL and by a
// redis-server restarted empty (which also drops the script cache). The
// running cycles lose their leases and fail; the next cycle of each pair
// rebuilds its map from the stamps in the target and says the store's
// state was lost. With existing_guest = "skip", a guest ctsync invited but
// had not stamped when the store went is not silently skipped: its source
// user is staged "adopt" in `ctsync status --pair`, naming the guest and
// the command, and `ctsync approve` makes the next cycle stamp it. In the
// end every in-scope member has exactly one guest in each other tenant.
func TestStoreLossRecovers(t *testing.T) {
	variants := []struct {
		name string
		lose func(t *testing.T, pm *procMesh)
	}{
		{"flushall", func(t *testing.T, pm *procMesh) {
			c := redis.NewClient(&redis.Options{Addr: pm.redis.Addr(), MaxRetries: -1})
			defer c.Close()
			if err := c.FlushAll(context.Background()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
		}},
		{"restart-empty", func(t *testing.T, pm *procMesh) {
			pm.redis.Kill()
			pm.redis.Restart()
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			storeLoss(t, v.lose)
		})
	}
}

func storeLoss(t *testing.T, lose func(*testing.T, *procMesh)) {
	pm := newProcMesh(t, procMeshSetup{users: 30, policy: skipPolicy,
		latency: graphsim.Latency{Median: 30 * time.Millisecond, P99: 120 * time.Millisecond}})
	expected := pm.expectedGuests()
	r := pm.startReplica("r1")

	// Lose the store once about a third of the guests exist.
	_, ok := eventually(t, "a third of the guests are invited", 2*time.Minute, 10*time.Millisecond, func() string {
		if !r.alive() {
			t.Fatalf("replica %s: %s\n%s", r.name, r.ended(), r.out.String())
		}
		if n := pm.createdGuests(); n < expected/3 {
			return fmt.Sprintf("%d of %d guests invited", n, expected)
		}
		return ""
	})
	if !ok {
		t.FailNow()
	}
	created0, stamped0 := pm.createdGuests(), pm.stampedGuests()
	outAtLoss := len(r.out.String())
	lose(t, pm)
	lostAt := time.Now()
	t.Logf("store lost with %d of %d guests invited, %d stamped", created0, expected, stamped0)

	// Recovery: every (source user, target) has its one stamped guest or
	// is staged "adopt"; nobody has two.
	type need struct{ pair, src, guest, mail string }
	var needs []need
	var staged map[string]map[string]statusUser
	took, ok := eventually(t, "every user has its guest or a staged adopt", 3*time.Minute, 2*time.Second, func() string {
		if !r.alive() {
			t.Fatalf("replica %s: %s\n%s", r.name, r.ended(), r.out.String())
		}
		if d := pm.duplicates(); len(d) > 0 {
			return "duplicates: " + first(d, 10)
		}
		staged = pm.stagedUsers()
		needs = nil
		var why []string
		for _, s := range meshTenants {
			for id, u := range pm.inScope(s) {
				for _, d := range meshTenants {
					if d == s {
						continue
					}
					pair := s + "-to-" + d
					if _, ok := guestOf(pm.ten[d], pm.ten[s], id); ok {
						continue
					}
					st, isStaged := staged[pair][id]
					if !isStaged {
						why = append(why, fmt.Sprintf("%s: user %s (%s) has no guest and is not staged", pair, id, str(u, "mail")))
						continue
					}
					needs = append(needs, need{pair: pair, src: id, guest: st.GuestID, mail: str(u, "mail")})
				}
			}
		}
		sort.Strings(why)
		return first(why, 10)
	})
	t.Logf("recovered %v after the loss: %d users staged for a decision", took.Round(time.Second), len(needs))
	if !ok {
		t.FailNow()
	}
	// What the replica logged after the loss: its cycles failed (their
	// leases gone, writes fenced), and each pair's next cycle said, above
	// INFO, that the store's state was lost (a first sync says it at INFO).
	out := r.out.String()[outAtLoss:]
	if grepLines(out, "cycle failed", 1) == "" {
		t.Errorf("no cycle failed after the store was lost; the replica's log since:\n%s", tail(out, 30))
	} else {
		t.Logf("after the loss: %s", grepLines(out, "cycle failed", 1))
	}
	for _, p := range sixPairs() {
		found := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "pair="+p+" ") && strings.Contains(l, "state was lost") &&
				(strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) {
				found = l
				break
			}
		}
		if found == "" {
			t.Errorf("%s: the replica never logged (WARN or ERROR) that the store's state was lost; its lines since the loss:\n%s", p, grepLines(out, "pair="+p+" ", 10))
		} else if p == pairCF {
			t.Logf("%s", found)
		}
	}

	// Each staged adopt names the guest (the unstamped B2B user with the
	// source user's mail) and the command that decides.
	byPair := map[string][]string{}
	for _, n := range needs {
		st := staged[n.pair][n.src]
		var unstamped []string
		for _, g := range withMail(pm.ten[targetOf(n.pair)], n.mail) {
			if isB2B(g) && str(g, stampAttr) == "" {
				unstamped = append(unstamped, g.ID)
			}
		}
		t.Logf("%s: %s staged %s (guest %s; unstamped B2B users with its mail %v): %s", n.pair, n.src, st.Action, st.GuestID, unstamped, st.Reason)
		if len(unstamped) != 1 {
			t.Errorf("%s: staged user %s has %d unstamped B2B users with its mail %s, want 1: %v", n.pair, n.src, len(unstamped), n.mail, unstamped)
		} else if !strings.Contains(st.Reason, unstamped[0]) && st.GuestID != unstamped[0] {
			t.Errorf("%s: staged adopt of %s names neither in guestId (%q) nor in its reason the guest %s: %q", n.pair, n.src, st.GuestID, unstamped[0], st.Reason)
		}
		if !strings.Contains(st.Reason, "approve") {
			t.Errorf("%s: staged adopt of %s: the reason does not name the command (ctsync approve): %q", n.pair, n.src, st.Reason)
		}
		byPair[n.pair] = append(byPair[n.pair], n.src)
	}
	for _, pair := range slices.Sorted(maps.Keys(byPair)) {
		args := []string{"approve", "--pair", pair}
		for _, id := range byPair[pair] {
			args = append(args, "--user", id)
		}
		code, out := runCtsync(t, pm.cfgPath, 2*time.Minute, args...)
		t.Logf("ctsync %s: exit %d\n%s", strings.Join(args, " "), code, out)
		if code != 0 {
			t.Errorf("ctsync approve: exit %d", code)
		}
	}

	// After the decisions: converged, no duplicates, nothing staged.
	eventually(t, "the mesh converges after the decisions", 2*time.Minute, 2*time.Second, func() string {
		p := append(pm.duplicates(), pm.meshProblems()...)
		return first(p, 10)
	})
	errorLines(t, "duplicate", pm.duplicates(), 20)
	for pair, users := range pm.stagedUsers() {
		for id, u := range users {
			t.Errorf("%s: %s still staged at the end: %s %s: %s", pair, id, u.Action, u.Decision, u.Reason)
		}
	}
	for _, n := range needs {
		if gs := stamped(pm.ten[targetOf(n.pair)], stampOf(pm.ten[strings.Split(n.pair, "-to-")[0]].ID(), n.src)); len(gs) != 1 {
			t.Errorf("%s: approved user %s ends with %d stamped guests", n.pair, n.src, len(gs))
		}
	}
	t.Logf("done %v after the loss: %d users needed a decision; %d guests stamped of %d", time.Since(lostAt).Round(time.Second), len(needs), pm.stampedGuests(), expected)
}

// stagedUsers returns, per pair, the users `ctsync status --pair` lists
// as staged "adopt", by source ID.
func (pm *procMesh) stagedUsers() map[string]map[string]statusUser {
	pm.tb.Helper()
	out := map[string]map[string]statusUser{}
	for _, p := range sixPairs() {
		d, err := pm.statusDoc(p)
		if err != nil {
			pm.tb.Logf("%v", err)
			continue
		}
		ps, _ := d.pair(p)
		for _, u := range ps.Users {
			if u.State == "staged" && u.Action == "adopt" {
				if out[p] == nil {
					out[p] = map[string]statusUser{}
				}
				out[p][u.SourceID] = u
			}
		}
	}
	return out
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepLines returns at most n lines of s containing word (any case).
func grepLines(s, word string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), word) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
