package guestmap

import (
	"context"
	"time"
)

// Store is the contract both implementations satisfy (Redis and bbolt).
// All methods are safe for concurrent use. Reads are never fenced; every
// write of a pair's state goes through Apply with the pair's lease.
type Store interface {
	// Acquire takes the lease of pair for ttl. It returns ErrHeld when
	// another holder has it (skip the pair quietly). The pair becomes
	// known to Pairs.
	Acquire(ctx context.Context, pair string, ttl time.Duration) (*Lease, error)

	// LeaseHolder reports who holds pair's lease, for reports: the
	// holder's identity (the Options.Holder of the store that took or last
	// extended it; "" when unknown, e.g. taken by an older ctsync), when
	// the store lets the lease go unless it is extended, and held=false
	// (with a zero holder and until) when nobody holds it. Per-user locks
	// are not pair leases and never show here. Not fenced.
	LeaseHolder(ctx context.Context, pair string) (holder string, until time.Time, held bool, err error)

	// LockUser takes the per-user lock for the invite step of sourceID in
	// pair and, in the same round trip, re-reads the user's entry (nil when
	// unmapped), because re-checking the map is always the next step. It
	// returns ErrHeld when someone else holds the lock. Release it with
	// Lease.Release or, cheaper, in the Apply that records the result
	// (Batch.Unlock).
	LockUser(ctx context.Context, pair, sourceID string, ttl time.Duration) (*Lease, *Entry, error)

	// Apply writes a batch for the lease's pair, refused with ErrFenced
	// when lease is no longer held by its token. A batch that fits one
	// chunk (about 1,000 items; a group entry counts one item plus one per
	// 100 member IDs) is atomic; larger ones are written chunk by chunk,
	// with the delta links, status, quarantine and unlocks last, so an
	// error means "treat the whole batch as not done" and a retry is safe
	// (entry writes are idempotent; log records may repeat).
	Apply(ctx context.Context, lease *Lease, b Batch) error

	// Get returns the entry of one source user, or ok=false.
	Get(ctx context.Context, pair, sourceID string) (e Entry, ok bool, err error)
	// GetMany returns the entries found for sourceIDs, keyed by source ID,
	// in one round trip on Redis however many IDs are asked.
	GetMany(ctx context.Context, pair string, sourceIDs []string) (map[string]Entry, error)
	// Scan calls page with every entry of pair, in pages of about 1,000,
	// in no particular order. An error from page stops the scan and is
	// returned as is.
	Scan(ctx context.Context, pair string, page func([]Entry) error) error
	// Count returns the number of entries of pair.
	Count(ctx context.Context, pair string) (int, error)

	// DeltaLink returns the committed delta link of pair, "" when none.
	DeltaLink(ctx context.Context, pair string) (string, error)
	// FastLink returns the committed delta link of pair's fast lane (a
	// second, narrower delta read of the same source; see Batch.FastLink),
	// "" when none.
	FastLink(ctx context.Context, pair string) (string, error)

	// GroupEntries returns every group entry of pair (see Batch.PutGroups),
	// sorted by SourceID; none for a pair never written. It reads the
	// group entries alone, never the user map.
	GroupEntries(ctx context.Context, pair string) ([]GroupEntry, error)
	// GroupLink returns the committed delta link of pair's groups read
	// (see Batch.GroupLink), "" when none.
	GroupLink(ctx context.Context, pair string) (string, error)

	// Status returns the pair's status record with its current quarantine
	// and the number of staged actions. A pair never written returns a
	// zero Status (with Pair set) and no error.
	Status(ctx context.Context, pair string) (Status, error)
	// ClearQuarantine lifts a pair's quarantine (an admin decision; not
	// fenced).
	ClearQuarantine(ctx context.Context, pair string) error

	// Staged lists the pair's staged actions with any admin decision,
	// sorted by source ID.
	Staged(ctx context.Context, pair string) ([]Staged, error)
	// Decide records an admin decision for staged actions of pair (IDs that
	// are not staged are ignored) and returns how many were decided. Not
	// fenced: the admin acts beside a running worker, which reads the
	// decision in its next cycle. See Approve and Reject.
	Decide(ctx context.Context, pair string, d Decision, by string, sourceIDs ...string) (int, error)

	// AppendLog adds records to the provisioning log without a lease (for
	// example to record that a write was fenced off). Records carry their
	// own Pair.
	AppendLog(ctx context.Context, recs ...Record) error
	// Logs returns log records matching q, oldest first.
	Logs(ctx context.Context, q LogQuery) ([]Record, error)

	// Pairs lists every pair the store knows, sorted.
	Pairs(ctx context.Context) ([]string, error)

	// Heartbeat announces r (keyed by r.ID) as a live replica for ttl;
	// calling it again before ttl passes keeps it live. Not fenced.
	Heartbeat(ctx context.Context, r Replica, ttl time.Duration) error
	// Leave removes the replica id at once (a clean shutdown), so its
	// share moves to the others without waiting for its heartbeat to lapse.
	Leave(ctx context.Context, id string) error
	// Replicas lists the live replicas, sorted by ID, with Seen and Until
	// filled by the store.
	Replicas(ctx context.Context) ([]Replica, error)

	// Epoch returns the store's epoch marker, creating it when the store
	// has none (Epoch.New). Only ctsync writes it, once; a marker that
	// changes, or appears anew under a running ctsync, means the store's
	// state was lost (FLUSHALL, a Redis restarted empty, a new file).
	Epoch(ctx context.Context) (Epoch, error)

	// Close releases the connection or the file. Leases are not released.
	Close() error
}

// Batch is one fenced write for a pair. Steps run in this order: the
// Drop*/ClearQuarantine resets, Delete, Put, Unstage, Stage, Log,
// DeleteGroups, PutGroups, then DeltaLink, FastLink, GroupLink, Status,
// Quarantine and Unlock.
type Batch struct {
	// DropMap deletes every entry of the pair's user map (ResetPair,
	// Rebuild). The group entries and the group link stay: see DropGroups.
	DropMap bool
	// DropDeltaLink forgets the delta link so the next cycle reads in full.
	// The group link stays (commit GroupLink "" to forget it alone).
	DropDeltaLink bool
	// DropGroups deletes every group entry of the pair and its group link
	// (ResetPair), so the next groups read is in full and starts from no
	// target group.
	DropGroups bool
	// ClearQuarantine lifts the pair's quarantine.
	ClearQuarantine bool

	// Delete removes entries by source ID.
	Delete []string
	// Put writes whole entries (not merged with what is stored). An entry
	// with a zero Updated gets the store's current time.
	Put []Entry
	// Unstage removes staged actions (done, or no longer wanted) and their
	// decisions.
	Unstage []string
	// Stage records actions waiting for an admin; a restaged source ID
	// keeps its decision.
	Stage []Staged
	// Log appends provisioning records; an empty Record.Pair takes the
	// lease's pair.
	Log []Record

	// DeleteGroups removes group entries by source group ID.
	DeleteGroups []string
	// PutGroups writes whole group entries (not merged with what is
	// stored). An entry with a zero Updated gets the store's current time;
	// member lists not sorted without duplicates are stored sorted and
	// without them.
	PutGroups []GroupEntry

	// DeltaLink, when not nil, commits a new delta link.
	DeltaLink *string
	// FastLink, when not nil, commits a new delta link of the pair's fast
	// lane, kept apart from DeltaLink: the fast lane and the cycle read the
	// same source from their own points. DropDeltaLink leaves it: it is
	// only a position, and the fast lane applies nothing the cycle would
	// not.
	FastLink *string
	// GroupLink, when not nil, commits a new delta link of the pair's
	// groups read, kept apart from the users' links ("" forgets it: the
	// next groups read is in full). DropDeltaLink leaves it; DropGroups
	// forgets it.
	GroupLink *string
	// Status, when not nil, replaces the pair's status record (its
	// Quarantine and StagedCount fields are ignored: they are kept apart).
	Status *Status
	// Quarantine, when not nil, puts the pair in quarantine.
	Quarantine *Quarantine
	// Unlock releases per-user locks (from LockUser) if still held by
	// their tokens; a lock already lost is not an error.
	Unlock []*Lease
}

// State is the lifecycle state of a mapped guest.
type State uint8

// Entry states. The zero State is invalid in a stored entry.
const (
	StateActive      State = 1 // guest exists and is enabled
	StateDisabled    State = 2 // guest exists, sign-in blocked
	StateSoftDeleted State = 3 // guest in the target's deleted items
	StateStaged      State = 4 // a delete or disable awaits an admin (see Staged)
	StateParked      State = 5 // last action failed; retry at NextRetry
)

var stateNames = [...]string{"", "active", "disabled", "soft-deleted", "staged", "parked"}

// String returns the state's name ("active", "parked", ...).
func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return "invalid"
}

// MarshalText encodes the state by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if i > 0 && n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return errorf("unknown state %q", b)
}

// Entry maps one source user to its guest in the target tenant.
type Entry struct {
	// SourceID is the source user's object ID (the key).
	SourceID string `json:"sourceId"`
	// GuestID is the guest's object ID in the target; may be empty for a
	// parked entry whose invitation failed.
	GuestID string `json:"guestId,omitempty"`
	// Stamp is the value written on the guest (see directory.Stamp).
	Stamp string `json:"stamp,omitempty"`
	// AttrHash is the hash (policy.Hash) of the attributes last written to the guest,
	// so an unchanged user costs no Graph write.
	AttrHash uint64 `json:"attrHash,omitempty"`
	// State is the guest's lifecycle state.
	State State `json:"state"`
	// ManagerSourceID is the source ID of the user's manager, so the
	// worker can set the guest's manager once the manager is mapped.
	ManagerSourceID string `json:"managerSourceId,omitempty"`
	// ManagerPending: the manager had no guest when the user's guest was
	// last written, so the guest's manager reference is not written yet;
	// it is written once the manager has a guest (the cycle it arrives in,
	// or the next that plans the user, should that cycle be cut short).
	ManagerPending bool `json:"managerPending,omitempty"`
	// GuestUPN is the guest's UPN or mail, for reports.
	GuestUPN string `json:"guestUpn,omitempty"`
	// Attempts counts consecutive failed attempts (parked entries).
	Attempts int `json:"attempts,omitempty"`
	// NextRetry is when a parked entry may be retried.
	NextRetry time.Time `json:"nextRetry,omitzero"`
	// LastError is the last failure's message.
	LastError string `json:"lastError,omitempty"`
	// Created is when the entry was first written (kept by the caller).
	Created time.Time `json:"created,omitzero"`
	// Updated is when the entry was last written.
	Updated time.Time `json:"updated,omitzero"`
}

// Status is a pair's status record, written by the worker at the end of
// each cycle and read by `ctsync status`.
type Status struct {
	Pair       string         `json:"pair"`
	Cycle      string         `json:"cycle,omitempty"`
	CycleStart time.Time      `json:"cycleStart,omitzero"`
	CycleEnd   time.Time      `json:"cycleEnd,omitzero"`
	Counts     map[string]int `json:"counts,omitempty"` // per action ("create", "update", ...)
	LastError  string         `json:"lastError,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// ConsecutiveFailures counts cycles in a row that ended in error.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// FailureRatio is the share of failed actions over the recent
	// consecutive failing cycles, as the worker computes it.
	FailureRatio float64 `json:"failureRatio,omitempty"`
	// PolicyHash identifies the pair's policy the map was last built
	// under; the worker reads the source in full when it changes, so a new
	// scope or mapping reaches every user, not just the ones that change.
	PolicyHash uint64 `json:"policyHash,omitempty"`
	// LastSuccess is when the last cycle that ran to its end finished
	// (parked users or not), or an incomplete one (CycleSummary.Incomplete)
	// that got work done: what "no success for N intervals" alerts on.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Running is the ID of the cycle in progress: set when a cycle starts,
	// cleared when it ends (done or failed). A cycle that finds it set knows
	// the one before it was cut short (a crash, a lost lease) and checks
	// what such a cut can leave undone (manager references).
	Running string `json:"running,omitempty"`
	// History is the pair's recent cycles, newest first, at most
	// HistoryLen (see AddCycle). It rides in the status record, so both
	// stores keep it with no record of its own.
	History []CycleSummary `json:"history,omitempty"`

	// Quarantine is filled by Store.Status from its own record.
	Quarantine Quarantine `json:"quarantine,omitzero"`
	// StagedCount is filled by Store.Status: actions awaiting an admin.
	StagedCount int `json:"stagedCount,omitempty"`
}

// HistoryLen is the number of cycles Status.History keeps.
const HistoryLen = 10

// CycleSummary is one finished cycle of a pair, for `ctsync status`.
type CycleSummary struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Full is set when the cycle read the source in full.
	Full bool `json:"full,omitempty"`
	// Counts per action, as in Status.Counts.
	Counts map[string]int `json:"counts,omitempty"`
	// Parked is the number of users the cycle parked.
	Parked int `json:"parked,omitempty"`
	// Error is what stopped the cycle; empty when it ran to its end.
	Error string `json:"error,omitempty"`
	// Incomplete says why the cycle stopped taking new users before it
	// had done all its work, with no error ("cycle_timeout", "shutdown";
	// empty when it ran to its end): normal work, not a failure. Its delta
	// link was not committed, so the next cycle goes on from the same
	// point, and that cycle writes the managers it left.
	Incomplete string `json:"incomplete,omitempty"`
	// Pending is the number of planned changes an incomplete cycle did
	// not start (not parked, not failed): the next cycle plans them again.
	Pending int `json:"pending,omitempty"`
}

// AddCycle puts c first in the history and drops the oldest beyond
// HistoryLen. It copies the history, so a Status read earlier and this one
// do not share it.
func (s *Status) AddCycle(c CycleSummary) {
	h := make([]CycleSummary, 0, HistoryLen)
	h = append(h, c)
	h = append(h, s.History[:min(len(s.History), HistoryLen-1)]...)
	s.History = h
}

// Quarantine stops a pair until an admin clears it.
type Quarantine struct {
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// Decision is an admin's answer to a staged action.
type Decision string

// Decisions; the zero Decision means pending.
const (
	Pending  Decision = ""
	Approved Decision = "approved"
	Rejected Decision = "rejected"
)

// Staged is an action held back for an admin (deletes and disables above
// the threshold).
type Staged struct {
	SourceID string    `json:"sourceId"`
	GuestID  string    `json:"guestId,omitempty"`
	Action   string    `json:"action"` // "delete", "disable", ...
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since,omitzero"`

	// Decision, DecidedBy and DecidedAt are filled by Store.Staged.
	Decision  Decision  `json:"decision,omitempty"`
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
}

// Approve allows staged actions of pair; see Store.Decide.
func Approve(ctx context.Context, s Store, pair, by string, sourceIDs ...string) (int, error) {
	return s.Decide(ctx, pair, Approved, by, sourceIDs...)
}

// Reject refuses staged actions of pair; see Store.Decide.
func Reject(ctx context.Context, s Store, pair, by string, sourceIDs ...string) (int, error) {
	return s.Decide(ctx, pair, Rejected, by, sourceIDs...)
}

// ResetPair drops a pair's delta link, map, group entries and group link
// and clears its quarantine, so the next cycle starts from a full read of
// users and groups. It needs the pair's lease so it cannot race a running
// worker.
func ResetPair(ctx context.Context, s Store, lease *Lease) error {
	return s.Apply(ctx, lease, Batch{DropMap: true, DropDeltaLink: true, DropGroups: true, ClearQuarantine: true})
}

// CommitDeltaLink commits a pair's delta link under its lease.
func CommitDeltaLink(ctx context.Context, s Store, lease *Lease, link string) error {
	return s.Apply(ctx, lease, Batch{DeltaLink: &link})
}
