package guestmap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Apply writes the whole batch in one transaction (atomic whatever its
// size), shared with concurrent writes (group commit, bolt_commit.go).
// The lease is checked and pinned before, unpinned after the commit: no
// other token can take it in between, and its holder can still extend it
// meanwhile (bolt_lease.go).
func (s *boltStore) Apply(ctx context.Context, lease *Lease, b Batch) error {
	b, err := prepareBatch(s, lease, b)
	if err != nil {
		return err
	}
	if b, err = prepareGroups(b, s.now()); err != nil {
		return err
	}
	if b.Quarantine != nil && b.Quarantine.Since.IsZero() {
		// Fill it here: the transaction's function may run twice.
		q := *b.Quarantine
		q.Since = s.now()
		b.Quarantine = &q
	}
	pair := lease.pair
	pin, fence := s.pin(pair, lease.token)
	if pin == nil {
		return fmt.Errorf("guestmap: write %s: %w", pair, ErrFenced)
	}
	err = s.write(func(tx *bolt.Tx) error {
		p, err := pairBucketRW(tx, pair)
		if err != nil {
			return err
		}
		if err := s.applyResets(p, b); err != nil {
			return err
		}
		if err := applyEntries(p, b); err != nil {
			return err
		}
		if err := applyStaged(p, b); err != nil {
			return err
		}
		if err := s.appendLog(p, b.Log); err != nil {
			return err
		}
		if err := applyGroups(p.Bucket(bucketGroups), b); err != nil {
			return err
		}
		if err := s.applyTail(p, pair, b); err != nil {
			return err
		}
		return putFence(tx, fence)
	})
	s.unpin(pair, pin, err == nil, b.Unlock)
	return s.wrap("write "+pair, err)
}

// putFence persists the lease fence number so a reopened store keeps
// counting up. Writes of a group carry the fence of their own check, not
// in order, so the stored number only grows.
func putFence(tx *bolt.Tx, fence uint64) error {
	m := tx.Bucket(bucketMeta)
	if v := m.Get(keyFence); len(v) == 8 && binary.BigEndian.Uint64(v) >= fence {
		return nil
	}
	var f [8]byte
	binary.BigEndian.PutUint64(f[:], fence)
	return m.Put(keyFence, f[:])
}

func (s *boltStore) applyResets(p *bolt.Bucket, b Batch) error {
	if b.DropMap {
		if err := p.DeleteBucket(bucketMap); err != nil {
			return err
		}
		if _, err := p.CreateBucket(bucketMap); err != nil {
			return err
		}
		if err := p.Delete(keyMapN); err != nil {
			return err
		}
	}
	if b.DropDeltaLink {
		if err := p.Delete(keyDelta); err != nil {
			return err
		}
	}
	if b.DropGroups {
		if err := p.DeleteBucket(bucketGroups); err != nil {
			return err
		}
		if _, err := p.CreateBucket(bucketGroups); err != nil {
			return err
		}
		if err := p.Delete(keyGroupLink); err != nil {
			return err
		}
	}
	if b.ClearQuarantine {
		return p.Delete(keyQuar)
	}
	return nil
}

// applyEntries writes b's entry deletes and puts into the pair's map and
// keeps the pair's entry count (keyMapN) with them, in the same
// transaction: Count serves the count without walking the map, which at
// 100,000 entries read every page of it (bbolt's Bucket.Stats) and put
// them all in ctsync's RSS at once, after every cycle (the metrics
// refresh) and on every status read.
func applyEntries(p *bolt.Bucket, b Batch) error {
	if len(b.Delete) == 0 && len(b.Put) == 0 {
		return nil
	}
	m := p.Bucket(bucketMap)
	n := storedCount(p)
	for _, id := range b.Delete {
		if m.Get([]byte(id)) != nil {
			n--
		}
		if err := m.Delete([]byte(id)); err != nil {
			return err
		}
	}
	for i := range b.Put {
		k := []byte(b.Put[i].SourceID)
		if m.Get(k) == nil {
			n++
		}
		if err := m.Put(k, encodeEntry(&b.Put[i])); err != nil {
			return err
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(max(n, 0)))
	return p.Put(keyMapN, v[:])
}

// storedCount is the pair's entry count: keyMapN, or, in a store written
// before it was kept (or after DropMap), a count of the map's keys.
func storedCount(p *bolt.Bucket) int {
	if v := p.Get(keyMapN); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	if m := p.Bucket(bucketMap); m != nil {
		return m.Stats().KeyN
	}
	return 0
}

func applyGroups(g *bolt.Bucket, b Batch) error {
	for _, id := range b.DeleteGroups {
		if err := g.Delete([]byte(id)); err != nil {
			return err
		}
	}
	for i := range b.PutGroups {
		if err := g.Put([]byte(b.PutGroups[i].SourceID), encodeGroup(&b.PutGroups[i])); err != nil {
			return err
		}
	}
	return nil
}

func applyStaged(p *bolt.Bucket, b Batch) error {
	st, dec := p.Bucket(bucketStaged), p.Bucket(bucketDecide)
	for _, id := range b.Unstage {
		if err := st.Delete([]byte(id)); err != nil {
			return err
		}
		if err := dec.Delete([]byte(id)); err != nil {
			return err
		}
	}
	for _, x := range b.Stage {
		j, err := json.Marshal(x)
		if err != nil {
			return fmt.Errorf("guestmap: encode staged %s: %w", x.SourceID, err)
		}
		if err := st.Put([]byte(x.SourceID), j); err != nil {
			return err
		}
	}
	return nil
}

func (s *boltStore) applyTail(p *bolt.Bucket, pair string, b Batch) error {
	if b.DeltaLink != nil {
		if err := p.Put(keyDelta, []byte(*b.DeltaLink)); err != nil {
			return err
		}
	}
	if b.FastLink != nil {
		if err := p.Put(keyFast, []byte(*b.FastLink)); err != nil {
			return err
		}
	}
	if b.GroupLink != nil {
		var err error
		if *b.GroupLink == "" {
			err = p.Delete(keyGroupLink)
		} else {
			err = p.Put(keyGroupLink, []byte(*b.GroupLink))
		}
		if err != nil {
			return err
		}
	}
	if b.Status != nil {
		st := *b.Status
		st.Pair, st.Quarantine, st.StagedCount = pair, Quarantine{}, 0
		j, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("guestmap: encode status: %w", err)
		}
		if err := p.Put(keyStatus, j); err != nil {
			return err
		}
	}
	if b.Quarantine != nil {
		q := *b.Quarantine
		q.On = true
		if q.Since.IsZero() {
			q.Since = s.now()
		}
		j, err := json.Marshal(q)
		if err != nil {
			return fmt.Errorf("guestmap: encode quarantine: %w", err)
		}
		return p.Put(keyQuar, j)
	}
	return nil
}

// Get reads one entry.
func (s *boltStore) Get(ctx context.Context, pair, sourceID string) (Entry, bool, error) {
	if err := checkPair(pair); err != nil {
		return Entry{}, false, err
	}
	var e Entry
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		m := sub(tx, pair, bucketMap)
		if m == nil {
			return nil
		}
		v := m.Get([]byte(sourceID))
		if v == nil {
			return nil
		}
		var err error
		e, err = decodeEntry(sourceID, v)
		found = err == nil
		return err
	})
	return e, found, s.wrap("read entry of "+pair, err)
}

// GetMany reads entries in one read transaction.
func (s *boltStore) GetMany(ctx context.Context, pair string, ids []string) (map[string]Entry, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	out := make(map[string]Entry, len(ids))
	err := s.db.View(func(tx *bolt.Tx) error {
		m := sub(tx, pair, bucketMap)
		if m == nil {
			return nil
		}
		for _, id := range ids {
			if v := m.Get([]byte(id)); v != nil {
				e, err := decodeEntry(id, v)
				if err != nil {
					return err
				}
				out[id] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("read entries of "+pair, err)
	}
	// Random IDs read leaves all over the map: a run of large reads (the
	// managers step reads a first sync's every arrival, 1,000 at a time)
	// mapped the whole map within one rate-limited interval.
	if len(ids) >= manyIDs {
		s.dropMappedNow()
	} else {
		s.releaseMapped()
	}
	return out, nil
}

// manyIDs is the size of a GetMany after which the mapped pages are
// dropped at once (bolt_mapped.go).
const manyIDs = 200

// Scan reads pages in separate read transactions and calls page outside
// them, so page may write to the store (a write waiting for a remap while
// this goroutine holds a read transaction would deadlock bbolt).
func (s *boltStore) Scan(ctx context.Context, pair string, page func([]Entry) error) error {
	if err := checkPair(pair); err != nil {
		return err
	}
	var after []byte
	for {
		var es []Entry
		err := s.db.View(func(tx *bolt.Tx) error {
			m := sub(tx, pair, bucketMap)
			if m == nil {
				return nil
			}
			c := m.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(es) < chunkItems; k, v = c.Next() {
				e, err := decodeEntry(string(k), v)
				if err != nil {
					return err
				}
				es = append(es, e)
			}
			return nil
		})
		if err != nil {
			return s.wrap("scan entries of "+pair, err)
		}
		if len(es) == 0 {
			return nil
		}
		// A scan reads every page of the pair's map: let them go as it
		// goes (bolt_mapped.go).
		s.dropMappedNow()
		if err := page(es); err != nil {
			return err
		}
		if len(es) < chunkItems {
			return nil
		}
		after = []byte(es[len(es)-1].SourceID)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Count returns the number of keys in the map bucket.
func (s *boltStore) Count(ctx context.Context, pair string) (int, error) {
	if err := checkPair(pair); err != nil {
		return 0, err
	}
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		if p := pairBucket(tx, pair); p != nil {
			n = storedCount(p)
		}
		return nil
	})
	return n, s.wrap("count entries of "+pair, err)
}

// GroupEntries reads the pair's group entries in one read transaction, in
// key order (sorted by source ID).
func (s *boltStore) GroupEntries(ctx context.Context, pair string) ([]GroupEntry, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	var out []GroupEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		g := sub(tx, pair, bucketGroups)
		if g == nil {
			return nil
		}
		return g.ForEach(func(k, v []byte) error {
			e, err := decodeGroup(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap("read group entries of "+pair, err)
	}
	return out, nil
}
