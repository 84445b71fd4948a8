package guestmap

import (
	"context"
	"fmt"
	"github.com/ctsync/ctsync/internal/directory"
	"strings"
	"time"
)

// Fact is what the target tenant says about one stamped guest.
type Fact struct {
	// SourceID is the source object ID; when empty it is taken from Stamp.
	SourceID string
	GuestID  string
	Stamp    string
	// GuestUPN is the guest's UPN or mail, for reports.
	GuestUPN string
	// Disabled: the guest's accountEnabled is false.
	Disabled bool
}

// FactPages yields stamped guests page by page, as tenants' Target.Stamped
// does with users; an error from yield must stop it and be returned.
type FactPages func(yield func([]Fact) error) error

// RebuildOptions tune Rebuild.
type RebuildOptions struct {
	// SourceTenantID of the pair: guests stamped by another source tenant
	// (another pair into the same target) are not this pair's.
	SourceTenantID string
	// Drop empties the map first, forgetting attribute hashes and manager
	// IDs, so every user's attributes are rewritten on the next cycle.
	// Without Drop, an entry whose guest ID matches its fact keeps them.
	Drop bool
}

// RebuildResult counts what Rebuild did.
type RebuildResult struct {
	Facts   int // facts read
	Mapped  int // entries written from facts
	Removed int // entries dropped: no guest carries their stamp
	Foreign int // facts skipped: another source tenant's stamp, or malformed
	// Duplicates are further guests stamped for a source user already
	// mapped from an earlier fact; they are left unmapped for an admin.
	Duplicates []Fact
}

// Rebuild makes the map of the lease's pair agree with the stamps found in
// the target tenant: one entry per stamped guest of this source tenant,
// and no entry without a guest, except soft-deleted ones (guests in
// deleted items are usually not listed by the stamp search, and their
// entries let a returning user be restored rather than invited again).
// Every write is fenced by lease; on error the map is partly rebuilt and
// Rebuild may simply be run again.
func Rebuild(ctx context.Context, s Store, lease *Lease, pages FactPages, opts RebuildOptions) (RebuildResult, error) {
	var res RebuildResult
	pair := lease.Pair()
	old := map[string]Entry{}
	if opts.Drop {
		if err := s.Apply(ctx, lease, Batch{DropMap: true}); err != nil {
			return res, fmt.Errorf("rebuild %s: drop map: %w", pair, err)
		}
	} else if err := s.Scan(ctx, pair, func(es []Entry) error {
		for _, e := range es {
			old[e.SourceID] = e
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("rebuild %s: read map: %w", pair, err)
	}
	seen := map[string]bool{}
	err := pages(func(facts []Fact) error {
		var put []Entry
		for _, f := range facts {
			res.Facts++
			e, ok := entryFromFact(f, opts.SourceTenantID, old)
			switch {
			case !ok:
				res.Foreign++
			case seen[e.SourceID]:
				res.Duplicates = append(res.Duplicates, f)
			default:
				seen[e.SourceID] = true
				put = append(put, e)
			}
		}
		if len(put) == 0 {
			return nil
		}
		res.Mapped += len(put)
		return s.Apply(ctx, lease, Batch{Put: put})
	})
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", pair, err)
	}
	var gone []string
	for id, e := range old {
		if !seen[id] && e.State != StateSoftDeleted {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		if err := s.Apply(ctx, lease, Batch{Delete: gone}); err != nil {
			return res, fmt.Errorf("rebuild %s: remove unbacked entries: %w", pair, err)
		}
	}
	res.Removed = len(gone)
	return res, nil
}

// entryFromFact builds the entry a fact stands for, keeping what the old
// entry knew when it names the same guest.
func entryFromFact(f Fact, tenant string, old map[string]Entry) (Entry, bool) {
	t, src, ok := directory.ParseStamp(f.Stamp)
	if !ok || f.GuestID == "" || (tenant != "" && !strings.EqualFold(t, tenant)) {
		return Entry{}, false
	}
	if f.SourceID == "" {
		f.SourceID = src
	} else if f.SourceID != src {
		return Entry{}, false
	}
	state := StateActive
	if f.Disabled {
		state = StateDisabled
	}
	if e, ok := old[f.SourceID]; ok && e.GuestID == f.GuestID {
		if e.State == StateActive || e.State == StateDisabled || e.State == StateSoftDeleted {
			e.State = state
		}
		e.Stamp = f.Stamp
		if f.GuestUPN != "" {
			e.GuestUPN = f.GuestUPN
		}
		e.Updated = time.Time{}
		return e, true
	}
	return Entry{SourceID: f.SourceID, GuestID: f.GuestID, Stamp: f.Stamp, GuestUPN: f.GuestUPN, State: state}, true
}
