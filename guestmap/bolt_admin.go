package guestmap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Status reads the status, quarantine and staged count.
func (s *boltStore) Status(ctx context.Context, pair string) (Status, error) {
	if err := checkPair(pair); err != nil {
		return Status{}, err
	}
	var st, q []byte
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		p := pairBucket(tx, pair)
		if p == nil {
			return nil
		}
		st = append(st, p.Get(keyStatus)...)
		q = append(q, p.Get(keyQuar)...)
		if b := p.Bucket(bucketStaged); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return Status{}, s.wrap("read status of "+pair, err)
	}
	return decodeStatus(pair, st, q, n)
}

// ClearQuarantine deletes the quarantine record.
func (s *boltStore) ClearQuarantine(ctx context.Context, pair string) error {
	if err := checkPair(pair); err != nil {
		return err
	}
	return s.wrap("clear quarantine of "+pair, s.write(func(tx *bolt.Tx) error {
		if p := pairBucket(tx, pair); p != nil {
			return p.Delete(keyQuar)
		}
		return nil
	}))
}

// Staged lists staged actions with their decisions.
func (s *boltStore) Staged(ctx context.Context, pair string) ([]Staged, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	staged, decided := map[string]string{}, map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		for b, m := range map[string]map[string]string{"staged": staged, "decide": decided} {
			if bk := sub(tx, pair, []byte(b)); bk != nil {
				if err := bk.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil }); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("read staged actions of "+pair, err)
	}
	return mergeStaged(pair, staged, decided)
}

// Decide records a decision for staged IDs in one transaction.
func (s *boltStore) Decide(ctx context.Context, pair string, d Decision, by string, ids ...string) (int, error) {
	if err := checkPair(pair); err != nil {
		return 0, err
	}
	if err := checkDecision(d); err != nil {
		return 0, err
	}
	j, err := json.Marshal(decisionRecord{Decision: d, By: by, At: s.now().UTC()})
	if err != nil {
		return 0, fmt.Errorf("guestmap: encode decision: %w", err)
	}
	n := 0
	err = s.write(func(tx *bolt.Tx) error {
		n = 0 // the function may run twice (group commit)
		st, dec := sub(tx, pair, bucketStaged), sub(tx, pair, bucketDecide)
		if st == nil || dec == nil {
			return nil
		}
		for _, id := range ids {
			if st.Get([]byte(id)) == nil {
				continue
			}
			n++
			if d == Pending {
				if err := dec.Delete([]byte(id)); err != nil {
					return err
				}
			} else if err := dec.Put([]byte(id), j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap("decide staged actions of "+pair, err)
	}
	return n, nil
}

// AppendLog adds records in one transaction, creating pair buckets as needed.
func (s *boltStore) AppendLog(ctx context.Context, recs ...Record) error {
	recs = fillRecords(recs, "", s.now())
	byPair := map[string][]Record{}
	for _, r := range recs {
		if err := checkPair(r.Pair); err != nil {
			return err
		}
		byPair[r.Pair] = append(byPair[r.Pair], r)
	}
	if len(byPair) == 0 {
		return nil
	}
	return s.wrap("append log", s.write(func(tx *bolt.Tx) error {
		for pair, rs := range byPair {
			p, err := pairBucketRW(tx, pair)
			if err != nil {
				return err
			}
			if err := s.appendLog(p, rs); err != nil {
				return err
			}
		}
		return nil
	}))
}

// appendLog writes records under time-ordered keys and trims the oldest
// once the count passes the cap by a sixteenth (amortising the trim).
func (s *boltStore) appendLog(p *bolt.Bucket, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	lb := p.Bucket(bucketLog)
	var n uint64
	if v := p.Get(keyLogN); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	for i := range recs {
		j, err := encodeRecord(&recs[i])
		if err != nil {
			return err
		}
		seq, err := lb.NextSequence()
		if err != nil {
			return err
		}
		var k [16]byte
		binary.BigEndian.PutUint64(k[:8], uint64(max(recs[i].Time.UnixNano(), 0)))
		binary.BigEndian.PutUint64(k[8:], seq)
		if err := lb.Put(k[:], j); err != nil {
			return err
		}
		n++
	}
	limit := uint64(s.opts.LogCap)
	if n > limit+limit/16 {
		c := lb.Cursor()
		for k, _ := c.First(); k != nil && n > limit; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n--
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return p.Put(keyLogN, v[:])
}

// Logs walks each pair's log newest first and keeps the newest matches.
func (s *boltStore) Logs(ctx context.Context, q LogQuery) ([]Record, error) {
	pairs, err := q.pairs(ctx, s.Pairs)
	if err != nil {
		return nil, err
	}
	var out []Record
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, pair := range pairs {
			lb := sub(tx, pair, bucketLog)
			if lb == nil {
				continue
			}
			got := 0
			c := lb.Cursor()
			for k, v := c.Last(); k != nil && got < q.limit(); k, v = c.Prev() {
				t := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
				if !q.Since.IsZero() && t.Before(q.Since) {
					break
				}
				r, err := decodeRecord(v)
				if err != nil {
					return err
				}
				if q.match(&r) {
					out = append(out, r)
					got++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("read log", err)
	}
	return q.newest(out), nil
}
