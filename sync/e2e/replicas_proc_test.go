package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// shareProblems checks a status document against issue 11's sharing
// contract for the live replicas live (IDs): every live replica is listed
// with its configuration, no other replica is, every pair is run by
// exactly one of them and its "owner" says so, all pairs into one target
// go to one replica, and no replica runs more than maxPairs pairs (its
// bounded load). It returns "" when all holds.
func shareProblems(d statusDoc, live []string, maxPairs int) string {
	var why []string
	runs := map[string]string{} // pair -> replica listing it
	for _, r := range d.Replicas {
		if !slices.Contains(live, r.ID) {
			why = append(why, fmt.Sprintf("replica %s is listed but not live", r.ID))
			continue
		}
		if len(r.Pairs) > maxPairs {
			why = append(why, fmt.Sprintf("replica %s runs %d pairs %v, want at most %d", r.ID, len(r.Pairs), r.Pairs, maxPairs))
		}
		for _, p := range r.Pairs {
			if other, dup := runs[p]; dup {
				why = append(why, fmt.Sprintf("pair %s is run by both %s and %s", p, other, r.ID))
			}
			runs[p] = r.ID
		}
	}
	for _, id := range live {
		if _, ok := d.replica(id); !ok {
			why = append(why, fmt.Sprintf("live replica %s is not listed", id))
		}
	}
	byTarget := map[string]string{}
	for _, p := range sixPairs() {
		ps, ok := d.pair(p)
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("pair %s missing from status", p))
		case runs[p] == "":
			why = append(why, fmt.Sprintf("pair %s is run by no replica (owner %q)", p, ps.Owner))
		case ps.Owner != runs[p]:
			why = append(why, fmt.Sprintf("pair %s: owner %q, but replica %s lists it", p, ps.Owner, runs[p]))
		}
		if r := runs[p]; r != "" {
			if other, ok := byTarget[targetOf(p)]; ok && other != r {
				why = append(why, fmt.Sprintf("pairs into %s are split between %s and %s", targetOf(p), other, r))
			}
			byTarget[targetOf(p)] = r
		}
	}
	return strings.Join(why, "; ")
}

// TestReplicasShareMesh runs three `ctsync run` replicas on the six-pair
// mesh with one Redis (issue 11): they announce themselves in `ctsync
// status --json`, split the pairs two each by target, `ctsync once` on a
// leased pair exits 3 naming the holder, a replica killed with SIGKILL
// has its pairs taken over by the survivors, which run them, and the mesh
// converges without a duplicate guest.
func TestReplicasShareMesh(t *testing.T) {
	pm := newProcMesh(t, procMeshSetup{users: 12})
	host, _ := os.Hostname()
	rs := []*replicaProc{pm.startReplica("r1"), pm.startReplica("r2"), pm.startReplica("r3")}
	ids := []string{rs[0].id, rs[1].id, rs[2].id}

	// 1. Each replica runs the two pairs of one target. Expected within
	// the settle time and two intervals; 60 s is the generous bound.
	var share statusDoc
	took, ok := eventually(t, "three replicas share the six pairs", 60*time.Second, time.Second, func() string {
		for _, r := range rs {
			if !r.alive() {
				t.Fatalf("replica %s %s:\n%s", r.name, r.ended(), r.out.String())
			}
		}
		d, err := pm.statusDoc("")
		if err != nil {
			return err.Error()
		}
		share = d
		if why := shareProblems(d, ids, 2); why != "" {
			return why + "\n" + d.summary()
		}
		for _, r := range d.Replicas {
			if len(r.Pairs) != 2 {
				return fmt.Sprintf("replica %s runs %v, want 2 pairs\n%s", r.ID, r.Pairs, d.summary())
			}
		}
		return ""
	})
	if !ok {
		t.FailNow()
	}
	t.Logf("shared after %v: %s", took.Round(time.Millisecond), share.summary())
	for _, r := range share.Replicas {
		host0, pid, _ := strings.Cut(r.ID, ":")
		if r.Host != host || r.Host != host0 || strconv.Itoa(r.PID) != pid {
			t.Errorf("replica %s: host %q pid %d, want %q and the PID of its ID", r.ID, r.Host, r.PID, host)
		}
		if got := slices.Sorted(slices.Values(r.Configured)); !slices.Equal(got, sixPairs()) {
			t.Errorf("replica %s: configured %v, want the six pairs %v", r.ID, r.Configured, sixPairs())
		}
		if r.Version == "" || r.Started.IsZero() || r.Seen.IsZero() || !r.Until.After(r.Seen) {
			t.Errorf("replica %s: version %q started %v seen %v until %v: want all set, until after seen", r.ID, r.Version, r.Started, r.Seen, r.Until)
		}
		// The heartbeat lives lease_ttl (one clock, this machine's; a
		// second of slack for the status command's own time).
		if ttl := r.Until.Sub(r.Seen); ttl > pm.leaseTTL+time.Second {
			t.Errorf("replica %s: heartbeat seen %v, until %v: %v, want at most lease_ttl %v", r.ID, r.Seen, r.Until, ttl, pm.leaseTTL)
		}
	}

	// 2. `ctsync once` on a pair whose lease someone else holds exits 3
	// and names the holder. The test holds the lease itself, under a name
	// of its own: deterministic, whatever the replicas' timing.
	t.Run("once on a leased pair exits 3", func(t *testing.T) {
		ctx := context.Background()
		const holder = "e2e-lease-holder:4242"
		st, err := guestmap.Open(ctx, pm.redisURL, guestmap.Options{Holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var lease *guestmap.Lease
		// The pair's replica takes the lease for each of its cycles: wait
		// for a moment between two.
		eventually(t, "the test takes the lease of "+pairCF, 60*time.Second, 20*time.Millisecond, func() string {
			l, err := st.Acquire(ctx, pairCF, time.Minute)
			if err != nil {
				return err.Error()
			}
			lease = l
			return ""
		})
		if lease == nil {
			t.FailNow()
		}
		defer lease.Release(ctx)
		code, out := runCtsync(t, pm.cfgPath, 2*time.Minute, "once", "--pair", pairCF)
		if code != 3 {
			t.Errorf("ctsync once --pair %s with its lease held by %s: exit %d, want 3\n%s", pairCF, holder, code, out)
		}
		if !strings.Contains(out, holder) {
			t.Errorf("ctsync once --pair %s: the output does not name the holder %s:\n%s", pairCF, holder, out)
		}
		if d, err := pm.statusDoc(""); err == nil {
			if p, _ := d.pair(pairCF); !p.Lease.Held || p.Lease.Holder != holder {
				t.Errorf("status of %s while the test holds its lease: lease %+v, want held by %s", pairCF, p.Lease, holder)
			}
		}
		if err := lease.Release(ctx); err != nil && !errors.Is(err, guestmap.ErrFenced) {
			t.Errorf("release: %v", err)
		}
	})

	// The first sync completes before the kill, so that what follows
	// tests the takeover alone (kills in the middle of cycles are
	// TestChaosReplicaKills' business).
	if _, ok := eventually(t, "the mesh's first sync", 2*time.Minute, time.Second, func() string {
		return first(pm.meshProblems(), 5)
	}); !ok {
		t.FailNow()
	}

	// 3. Kill one replica with SIGKILL: its heartbeat lapses within
	// lease_ttl and the survivors take its pairs at their next cycle, and
	// run them. Expected within lease_ttl + one interval; the bound has a
	// minute of slack for a busy machine.
	victim := rs[0]
	vr, _ := share.replica(victim.id)
	victimPairs := vr.Pairs
	survivors := ids[1:]
	killedAt := time.Now()
	victim.kill()
	t.Logf("killed %s (%s), which ran %v", victim.name, victim.id, victimPairs)
	// A new user whose guest only the killed replica's pairs would make.
	target := targetOf(victimPairs[0])
	source := strings.Split(victimPairs[0], "-to-")[0]
	newcomer := pm.addUser(pm.ten[source], map[string]any{"displayName": "Ada Takeover"})
	var after statusDoc
	bound := pm.leaseTTL + pm.interval + time.Minute
	took, ok = eventually(t, "the survivors take over the killed replica's pairs", bound, 500*time.Millisecond, func() string {
		d, err := pm.statusDoc("")
		if err != nil {
			return err.Error()
		}
		after = d
		// Two replicas for three targets: one runs two targets (4 pairs).
		if why := shareProblems(d, survivors, 4); why != "" {
			return why + "\n" + d.summary()
		}
		for _, p := range victimPairs {
			ps, _ := d.pair(p)
			if ps.LastSuccess == nil || !ps.LastSuccess.After(killedAt) {
				return fmt.Sprintf("pair %s (owner %q) has not completed a cycle since the kill (last success %v)\n%s", p, ps.Owner, ps.LastSuccess, d.summary())
			}
		}
		return ""
	})
	t.Logf("taken over %v after the kill (lease_ttl %v + interval %v = %v): %s", took.Round(time.Millisecond),
		pm.leaseTTL, pm.interval, pm.leaseTTL+pm.interval, after.summary())
	if !ok {
		t.FailNow()
	}

	if _, ok := guestOf(pm.ten[target], pm.ten[source], newcomer); !ok {
		t.Logf("the newcomer %s has no guest in %s yet (its pair's last cycle may have read the source before it arrived)", newcomer, target)
	}

	// 4. The mesh converges, with no duplicate guest.
	eventually(t, "the mesh converges", 2*time.Minute, time.Second, func() string {
		return first(pm.meshProblems(), 10)
	})
	errorLines(t, "duplicate", pm.duplicates(), 20)
	for _, r := range rs[1:] {
		if !r.alive() {
			t.Errorf("replica %s %s", r.name, r.ended())
		}
	}
}
