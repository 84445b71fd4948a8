// Package shard decides which ctsync replica runs which pair, so that
// replicas sharing one store split the work instead of racing for it.
//
// The unit of sharing is the target tenant, not the pair: every pair that
// writes into one tenant runs on one replica. Graph's write quota is the
// tenant's (per app, per tenant), and a replica paces its writes into a
// tenant with one limiter and one budget (tenants' pacer); two replicas
// writing into one tenant would each spend the whole budget and meet 429s
// instead. Keeping a target on one replica keeps pacing local, with no
// round trip to the store per write. The price: a mesh can use at most as
// many replicas as it has target tenants (see docs/ARCHITECTURE.md,
// "Replicas").
//
// Assign is sticky rendezvous (highest random weight) hashing with bounded
// load. Room is an even share of the pairs per replica. A target stays on
// the replica that already runs it (its claim, from the replica's last
// heartbeat) while that replica is live and within room; any other target
// ranks the replicas by a hash of (target, replica) and goes to the first
// with room. Every replica computes the same assignment from the same
// heartbeats, with no coordination, and the result is a fixed point: fed
// back as claims, it comes out unchanged. A replica that leaves moves only
// its own targets; one that joins takes only what the others must shed to
// stay within room.
package shard

import (
	"hash/fnv"
	"slices"
	"sort"
	"time"
)

// Pair is a pair as sharing sees it: its name and the tenant it writes
// into.
type Pair struct {
	Name   string
	Target string
}

// Candidate is a live replica: its ID, the pairs its configuration holds
// (a pair only goes to a replica that can run it) and the pairs it runs
// now (its claims, kept where they fit).
type Candidate struct {
	ID         string
	Configured []string
	Claims     []string
}

// Assign returns the replica that runs each pair (pair name -> replica
// ID). A pair no candidate is configured for is absent.
func Assign(pairs []Pair, candidates []Candidate) map[string]string {
	out := make(map[string]string, len(pairs))
	if len(candidates) == 0 || len(pairs) == 0 {
		return out
	}
	// Group the pairs by target, in a stable order: larger groups first
	// (they are the hardest to fit), then by target.
	byTarget := map[string][]string{}
	for _, p := range pairs {
		byTarget[p.Target] = append(byTarget[p.Target], p.Name)
	}
	targets := make([]string, 0, len(byTarget))
	for t := range byTarget {
		targets = append(targets, t)
		sort.Strings(byTarget[t])
	}
	sort.Slice(targets, func(i, j int) bool {
		a, b := targets[i], targets[j]
		if len(byTarget[a]) != len(byTarget[b]) {
			return len(byTarget[a]) > len(byTarget[b])
		}
		return a < b
	})
	room := (len(pairs) + len(candidates) - 1) / len(candidates) // ceil
	load := map[string]int{}
	give := func(group []string, r string) {
		for _, p := range group {
			out[p] = r
		}
		load[r] += len(group)
	}
	// First the claims that fit, so that a target placed anew never takes
	// the room of one that stays; then the rest by rank.
	var rest []string
	for _, t := range targets {
		group := byTarget[t]
		if r := claimant(group, candidates, rank(t, eligible(candidates, group)), load, room); r != "" {
			give(group, r)
		} else {
			rest = append(rest, t)
		}
	}
	for _, t := range rest {
		group := byTarget[t]
		ranked := rank(t, eligible(candidates, group))
		if len(ranked) == 0 {
			// No replica can run the whole group (configurations differ
			// during a rollout): place its pairs one by one.
			for _, p := range group {
				if r := pick(rank(t, eligible(candidates, []string{p})), load, 1, room); r != "" {
					give([]string{p}, r)
				}
			}
			continue
		}
		give(group, pick(ranked, load, len(group), room))
	}
	return out
}

// claimant returns the eligible replica that claims one of the group's
// pairs and is still below room (the highest ranked of several), or "".
// Below room, not "with room for the whole group": targets move whole, so
// an even share is often out of reach (three targets of two pairs on two
// replicas: 4 and 2), and a claim refused for overshooting would go to
// another replica, whose claim the next round would refuse in turn; the
// assignment would flip back and forth instead of settling.
func claimant(group []string, cs []Candidate, ranked []string, load map[string]int, room int) string {
	for _, id := range ranked {
		if load[id] >= room {
			continue
		}
		i := slices.IndexFunc(cs, func(c Candidate) bool { return c.ID == id })
		for _, p := range group {
			if slices.Contains(cs[i].Claims, p) {
				return id
			}
		}
	}
	return ""
}

// pick returns the first ranked replica with room for n more pairs, or the
// least loaded one when none has (the first of them in rank order).
func pick(ranked []string, load map[string]int, n, room int) string {
	if len(ranked) == 0 {
		return ""
	}
	best := ranked[0]
	for _, r := range ranked {
		if load[r]+n <= room {
			return r
		}
		if load[r] < load[best] {
			best = r
		}
	}
	return best
}

// eligible returns the IDs of the candidates configured for every pair.
func eligible(cs []Candidate, pairs []string) []string {
	var ids []string
	for _, c := range cs {
		ok := true
		for _, p := range pairs {
			if !slices.Contains(c.Configured, p) {
				ok = false
				break
			}
		}
		if ok {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// rank orders replica IDs by their rendezvous weight for key, highest
// first (ties, which a 64-bit hash makes vanishingly rare, by ID).
func rank(key string, ids []string) []string {
	w := make(map[string]uint64, len(ids))
	for _, id := range ids {
		w[id] = weight(key, id)
	}
	out := slices.Clone(ids)
	sort.Slice(out, func(i, j int) bool {
		if w[out[i]] != w[out[j]] {
			return w[out[i]] > w[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// weight is the rendezvous weight of replica id for key: FNV-1a of both,
// finished with a 64-bit mixer so that similar IDs ("host:101",
// "host:102") spread.
func weight(key, id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(id))
	x := h.Sum64()
	// splitmix64's finaliser.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Turn is what Decide needs to know about one pair.
type Turn struct {
	Pair string
	// Self is this replica's ID; Owner the replica Assign gives the pair
	// ("" when none: no live replica is configured for it, or this replica
	// knows no replicas yet).
	Self, Owner string
	// LastRun is when any replica last ran the pair (the end of its last
	// cycle, or its last error), zero when never; Since is when this
	// replica started watching, which stands in for a zero LastRun.
	LastRun, Since time.Time
	Now            time.Time
	// Grace is how long a pair may go without a cycle before any replica
	// runs it whatever the assignment says.
	Grace time.Duration
}

// Decide says whether this replica runs the pair now, and why (for the
// cycle's report when it does not).
//
//	owner          last run by anyone          decision
//	this replica   any                         run
//	none           any                         run (nobody else will)
//	another        within the grace period     skip: the owner runs it
//	another        longer ago than the grace   run: the owner does not
func Decide(t Turn) (run bool, reason string) {
	switch t.Owner {
	case t.Self:
		return true, "this replica's share"
	case "":
		return true, "no live replica is assigned the pair"
	}
	last := t.LastRun
	if last.IsZero() || last.Before(t.Since) {
		last = t.Since
	}
	if idle := t.Now.Sub(last); idle > t.Grace {
		return true, "assigned to replica " + t.Owner + ", but it has not run for " + idle.Round(time.Second).String()
	}
	return false, "assigned to replica " + t.Owner
}
