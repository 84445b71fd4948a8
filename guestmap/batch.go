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
	for _, id := range b.Delete {
		room()
		cur.Delete = append(cur.Delete, id)
	}
	for _, e := range b.Put {
		room()
		cur.Put = append(cur.Put, e)
	}
	for _, id := range b.Unstage {
		room()
		cur.Unstage = append(cur.Unstage, id)
	}
	for _, s := range b.Stage {
		room()
		cur.Stage = append(cur.Stage, s)
	}
	for _, r := range b.Log {
		room()
		cur.Log = append(cur.Log, r)
	}
	cur.DeltaLink, cur.Status, cur.Quarantine, cur.Unlock = b.DeltaLink, b.Status, b.Quarantine, b.Unlock
	return append(chunks, cur)
}

// prepareBatch validates b for pair and fills defaults: Updated times,
// record pairs and times, staged times. It copies what it changes.
func prepareBatch(b Batch, pair string, owner leaser, now time.Time) (Batch, error) {
	for _, id := range b.Delete {
		if err := checkID(id); err != nil {
			return b, err
		}
	}
	for _, id := range b.Unstage {
		if err := checkID(id); err != nil {
			return b, err
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
