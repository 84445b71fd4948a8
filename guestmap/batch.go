package guestmap

import "time"

// chunkItems bounds the items of one Redis script call: big enough that a
// 100,000-entry write is ~100 calls in one pipeline, small enough that one
// script does not stall Redis (a few milliseconds).
const chunkItems = 1000

// splitBatch cuts b into chunks of at most max items, in Batch order. The
// first chunk carries the resets and the last the delta link, status,
// quarantine and unlocks, so they take effect only after every entry.
func splitBatch(b Batch, max int) []Batch {
	var chunks []Batch
	cur := Batch{DropMap: b.DropMap, DropDeltaLink: b.DropDeltaLink, ClearQuarantine: b.ClearQuarantine}
	n := 0
	room := func() {
		if n == max {
			chunks = append(chunks, cur)
			cur, n = Batch{}, 0
		}
		n++
	}
	// dst points into cur, so it follows cur when room starts a new chunk.
	spread(&cur.Delete, b.Delete, room)
	spread(&cur.Put, b.Put, room)
	spread(&cur.Unstage, b.Unstage, room)
	spread(&cur.Stage, b.Stage, room)
	spread(&cur.Log, b.Log, room)
	cur.DeltaLink, cur.Status, cur.Quarantine, cur.Unlock = b.DeltaLink, b.Status, b.Quarantine, b.Unlock
	cur.FastLink = b.FastLink
	return append(chunks, cur)
}

// spread appends items to *dst one at a time, calling room before each so
// that a full chunk is closed first.
func spread[T any](dst *[]T, items []T, room func()) {
	for _, x := range items {
		room()
		*dst = append(*dst, x)
	}
}

// prepareBatch checks that lease is a pair lease of owner, validates b for
// that pair and fills defaults: Updated times, record pairs and times,
// staged times. It copies what it changes. Both stores' Apply start here.
func prepareBatch(owner leaser, lease *Lease, b Batch) (Batch, error) {
	if lease == nil || lease.sourceID != "" || lease.owner != owner {
		return b, errorf("Apply needs a pair lease taken from this store")
	}
	pair, now := lease.pair, owner.now()
	for _, ids := range [][]string{b.Delete, b.Unstage} {
		for _, id := range ids {
			if err := checkID(id); err != nil {
				return b, err
			}
		}
	}
	puts := make([]Entry, len(b.Put))
	for i, e := range b.Put {
		if err := checkID(e.SourceID); err != nil {
			return b, err
		}
		if e.State == 0 || int(e.State) >= len(stateNames) {
			return b, errorf("entry %s: invalid state %d", e.SourceID, e.State)
		}
		if e.Updated.IsZero() {
			e.Updated = now
		}
		puts[i] = e
	}
	b.Put = puts
	stage := make([]Staged, len(b.Stage))
	for i, s := range b.Stage {
		if err := checkID(s.SourceID); err != nil {
			return b, err
		}
		if s.Since.IsZero() {
			s.Since = now
		}
		s.Decision, s.DecidedBy, s.DecidedAt = "", "", time.Time{}
		stage[i] = s
	}
	b.Stage = stage
	b.Log = fillRecords(b.Log, pair, now)
	for _, l := range b.Unlock {
		if l == nil || l.owner != owner || l.sourceID == "" || l.pair != pair {
			return b, errorf("Batch.Unlock takes user locks of pair %s from this store", pair)
		}
	}
	return b, nil
}
