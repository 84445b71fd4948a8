package worker

import (
	"sort"
	"time"
)

// Report is what one cycle of one pair did.
type Report struct {
	Pair  string
	Start time.Time
	End   time.Time
	// Full is set when the cycle read the source in full (first cycle,
	// reset, or an expired delta token).
	Full bool
	// Counts per action: "create", "adopt", "update", "disable",
	// "soft-delete", "hard-delete", "restore", "stage", "skip", "unchanged",
	// and "manager" (manager references set or cleared once the manager
	// arrived or left).
	Counts map[string]int
	// Failures is the number of users parked by this cycle.
	Failures int
	// Skipped says why the cycle did nothing (lease held elsewhere,
	// quarantine); empty when it ran.
	Skipped string
	// HeldBy names the process holding the pair's lease when the cycle was
	// skipped for it ("" when unknown, or skipped for another reason).
	HeldBy string
	// NotMine is set when the cycle was skipped because another replica
	// runs the pair (see Pair.Sharing): its share, not a contention.
	NotMine bool
	// Recovered counts the entries the cycle rebuilt from the target's
	// stamps because the store held nothing of the pair (see recoverMap).
	Recovered int
	// Quarantined is set when the pair is (now) in quarantine.
	Quarantined bool
	// Err is the error that stopped the cycle, if any.
	Err error
	// Stopped says why the cycle stopped taking new users before it had
	// done all its work, with no error: StopTimeout (cycle_timeout) or
	// StopShutdown; "" when it ran to its end. Such a cycle is
	// incomplete, not failed: what it did is recorded, the rest is the
	// next cycle's (see Pending).
	Stopped StopReason
	// Pending is what an incomplete cycle left for the next one: the
	// planned changes it did not start, plus the users it read but did not
	// reach planning (a cycle plans chunk by chunk while it applies).
	Pending int
	// GroupErr is why the group step (pairs with [pair.groups]) failed in
	// part or in whole; the users' cycle is recorded regardless, and the
	// groups are retried next cycle. Counts holds the group actions
	// ("group-create", "group-member-add", "group-failed", ...).
	GroupErr error
}

// Incomplete reports whether the cycle stopped before doing all its work
// without failing (see Stopped).
func (r Report) Incomplete() bool { return r.Err == nil && r.Stopped != "" }

// Resume reports whether the pair's next cycle should start at once: the
// cycle stopped at its cycle_timeout with work left (not on a shutdown).
func (r Report) Resume() bool { return r.Err == nil && r.Stopped == StopTimeout && !r.Quarantined }

// Failed reports whether the cycle stopped on an error or parked users.
func (r Report) Failed() bool { return r.Err != nil || r.Failures > 0 || r.GroupErr != nil }

// Kinds returns the actions counted, sorted.
func (r Report) Kinds() []string {
	kinds := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

func (r *Report) count(kind string, n int) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[kind] += n
}

// Phase is the step a running cycle is in.
type Phase string

// Phases of a cycle, in order.
const (
	PhaseRead     Phase = "read"
	PhasePlan     Phase = "plan"
	PhaseApply    Phase = "apply"
	PhaseManagers Phase = "managers"
	PhaseDone     Phase = "done"
)

// Progress is how far a running cycle of one pair has come: what
// operators watch during a long first sync (metrics, log lines, the status
// page, a terminal's progress line).
type Progress struct {
	Pair  string
	Start time.Time
	Phase Phase
	// Read is the number of source users read so far.
	Read int
	// Considered is the number of users planned so far, and Planned the
	// changes they need: a cycle plans its read chunk by chunk, so
	// Planned grows while it applies.
	Considered, Planned int
	// Applied is the number of planned changes applied or parked so far.
	Applied int
	// ApplyStart is when the apply step began (wall clock; zero before):
	// Applied over the time since is the apply rate (see ApplyRate).
	ApplyStart time.Time
}

// ApplyRate returns the changes applied per minute since the apply step
// began, and the estimated time to apply the rest at that rate. ok is
// false until there is a rate to speak of: while not applying, before
// anything was applied, or in the first seconds.
func (p Progress) ApplyRate(now time.Time) (perMinute float64, eta time.Duration, ok bool) {
	el := now.Sub(p.ApplyStart)
	if p.Phase != PhaseApply || p.ApplyStart.IsZero() || p.Applied <= 0 || el < time.Second {
		return 0, 0, false
	}
	perMinute = float64(p.Applied) / el.Minutes()
	if left := p.Left(); left > 0 {
		eta = time.Duration(left / perMinute * float64(time.Minute))
	}
	return perMinute, eta, true
}

// Left estimates the changes the cycle has still to apply: those planned
// and not applied, plus, for the users not planned yet, as many changes
// per user as the ones planned so far (a first sync: one each).
func (p Progress) Left() float64 {
	left := float64(p.Planned - p.Applied)
	if p.Considered > 0 && p.Read > p.Considered {
		left += float64(p.Read-p.Considered) * float64(p.Planned) / float64(p.Considered)
	}
	return max(left, 0)
}
