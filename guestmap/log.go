package guestmap

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// DefaultLogCap is the default number of provisioning records kept per pair.
const DefaultLogCap = 100_000

// Record is one provisioning action in the append-only log.
type Record struct {
	Time     time.Time     `json:"time"`
	Pair     string        `json:"pair"`
	Cycle    string        `json:"cycle,omitempty"`
	SourceID string        `json:"src,omitempty"`
	GuestID  string        `json:"guest,omitempty"`
	Action   string        `json:"action"` // "create", "update", "adopt", "disable", ...
	Changes  []Change      `json:"changes,omitempty"`
	Result   string        `json:"result"` // "ok", "error", "parked", "staged", "skipped", "fenced"
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"dur,omitempty"`
}

// Change is one property written, old -> new. After a round trip through
// the store the values are JSON's (string, bool, float64, []any, nil).
type Change struct {
	Prop string `json:"p"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// LogQuery selects log records. Zero fields match everything.
type LogQuery struct {
	Pair     string    // "" for every pair
	SourceID string    // one source user
	GuestID  string    // one guest
	Since    time.Time // Record.Time >= Since
	Until    time.Time // Record.Time < Until
	// Limit keeps the newest Limit matches (default 1,000).
	Limit int
}

func (q LogQuery) limit() int {
	if q.Limit <= 0 {
		return 1000
	}
	return q.Limit
}

func (q LogQuery) match(r *Record) bool {
	return (q.SourceID == "" || r.SourceID == q.SourceID) &&
		(q.GuestID == "" || r.GuestID == q.GuestID) &&
		(q.Since.IsZero() || !r.Time.Before(q.Since)) &&
		(q.Until.IsZero() || r.Time.Before(q.Until))
}

// logSlack is how far before LogQuery.Since a newest-first walk keeps
// going, since records from several writers arrive only roughly in
// Record.Time order.
const logSlack = 5 * time.Minute

func encodeRecord(r *Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("guestmap: encode log record: %w", err)
	}
	return b, nil
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("guestmap: log record: %v: %w", err, ErrCorrupt)
	}
	return r, nil
}

// pairs returns the pairs a query reads: its Pair, checked, or every pair
// the store lists when it names none.
func (q LogQuery) pairs(ctx context.Context, all func(context.Context) ([]string, error)) ([]string, error) {
	if q.Pair == "" {
		return all(ctx)
	}
	if err := checkPair(q.Pair); err != nil {
		return nil, err
	}
	return []string{q.Pair}, nil
}

// newest takes the matches the stores collected (each pair's newest first,
// up to the limit) and returns the newest limit of them, oldest first.
func (q LogQuery) newest(recs []Record) []Record {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	if len(recs) > q.limit() {
		recs = recs[len(recs)-q.limit():]
	}
	return recs
}

// fillRecords sets defaults on records appended for a pair.
func fillRecords(recs []Record, pair string, now time.Time) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		if r.Pair == "" {
			r.Pair = pair
		}
		if r.Time.IsZero() {
			r.Time = now
		}
		out[i] = r
	}
	return out
}
