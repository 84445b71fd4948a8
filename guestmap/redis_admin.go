package guestmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// decisionRecord is what Decide stores per source ID.
type decisionRecord struct {
	Decision Decision  `json:"d"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at"`
}

// Status reads the status, quarantine and staged count in one round trip.
func (s *redisStore) Status(ctx context.Context, pair string) (Status, error) {
	if err := checkPair(pair); err != nil {
		return Status{}, err
	}
	pipe := s.c.Pipeline()
	st := pipe.Get(ctx, s.key(pair, "status"))
	q := pipe.Get(ctx, s.key(pair, "quar"))
	n := pipe.HLen(ctx, s.key(pair, "staged"))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Status{}, s.wrap(ctx, "read status of "+pair, err)
	}
	return decodeStatus(pair, []byte(st.Val()), []byte(q.Val()), int(n.Val()))
}

func decodeStatus(pair string, st, q []byte, staged int) (Status, error) {
	out := Status{Pair: pair}
	if len(st) > 0 {
		if err := json.Unmarshal(st, &out); err != nil {
			return Status{}, fmt.Errorf("guestmap: status of %s: %v: %w", pair, err, ErrCorrupt)
		}
	}
	out.Pair, out.Quarantine, out.StagedCount = pair, Quarantine{}, staged
	if len(q) > 0 {
		if err := json.Unmarshal(q, &out.Quarantine); err != nil {
			return Status{}, fmt.Errorf("guestmap: quarantine of %s: %v: %w", pair, err, ErrCorrupt)
		}
	}
	return out, nil
}

// ClearQuarantine deletes the quarantine record.
func (s *redisStore) ClearQuarantine(ctx context.Context, pair string) error {
	if err := checkPair(pair); err != nil {
		return err
	}
	return s.wrap(ctx, "clear quarantine of "+pair, s.c.Del(ctx, s.key(pair, "quar")).Err())
}

// Staged lists staged actions with their decisions.
func (s *redisStore) Staged(ctx context.Context, pair string) ([]Staged, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	pipe := s.c.Pipeline()
	st := pipe.HGetAll(ctx, s.key(pair, "staged"))
	dec := pipe.HGetAll(ctx, s.key(pair, "decide"))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.wrap(ctx, "read staged actions of "+pair, err)
	}
	return mergeStaged(pair, st.Val(), dec.Val())
}

func mergeStaged(pair string, staged, decided map[string]string) ([]Staged, error) {
	out := make([]Staged, 0, len(staged))
	for id, v := range staged {
		var st Staged
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			return nil, fmt.Errorf("guestmap: staged %s of %s: %v: %w", id, pair, err, ErrCorrupt)
		}
		if d, ok := decided[id]; ok {
			var dr decisionRecord
			if err := json.Unmarshal([]byte(d), &dr); err != nil {
				return nil, fmt.Errorf("guestmap: decision %s of %s: %v: %w", id, pair, err, ErrCorrupt)
			}
			st.Decision, st.DecidedBy, st.DecidedAt = dr.Decision, dr.By, dr.At
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SourceID < out[j].SourceID })
	return out, nil
}

func checkDecision(d Decision) error {
	if d != Pending && d != Approved && d != Rejected {
		return errorf("unknown decision %q", d)
	}
	return nil
}

// Decide records a decision for staged IDs, atomically per call.
func (s *redisStore) Decide(ctx context.Context, pair string, d Decision, by string, ids ...string) (int, error) {
	if err := checkPair(pair); err != nil {
		return 0, err
	}
	if err := checkDecision(d); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	arg := ""
	if d != Pending {
		j, err := json.Marshal(decisionRecord{Decision: d, By: by, At: s.now().UTC()})
		if err != nil {
			return 0, fmt.Errorf("guestmap: encode decision: %w", err)
		}
		arg = string(j)
	}
	args := make([]any, 0, 1+len(ids))
	args = append(args, arg)
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := s.runScript(ctx, scriptDecide, []string{s.key(pair, "staged"), s.key(pair, "decide")}, args...).Int()
	if err != nil {
		return 0, s.wrap(ctx, "decide staged actions of "+pair, err)
	}
	return n, nil
}

// AppendLog adds records with XADD, all in one pipeline.
func (s *redisStore) AppendLog(ctx context.Context, recs ...Record) error {
	recs = fillRecords(recs, "", s.now())
	pipe := s.c.Pipeline()
	for i := range recs {
		if err := checkPair(recs[i].Pair); err != nil {
			return err
		}
		j, err := encodeRecord(&recs[i])
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: s.key(recs[i].Pair, "log"), MaxLen: int64(s.opts.LogCap), Approx: true,
			Values: []any{"r", j},
		})
	}
	if len(recs) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if !seen[r.Pair] {
			seen[r.Pair] = true
			pipe.SAdd(ctx, s.pairsKey(), r.Pair)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return s.wrap(ctx, "append log", err)
	}
	return nil
}

// Logs reads streams newest first with XREVRANGE, filters and keeps the
// newest Limit matches.
func (s *redisStore) Logs(ctx context.Context, q LogQuery) ([]Record, error) {
	pairs, err := q.pairs(ctx, s.Pairs)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range pairs {
		recs, err := s.pairLogs(ctx, p, q)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return q.newest(out), nil
}

func (s *redisStore) pairLogs(ctx context.Context, pair string, q LogQuery) ([]Record, error) {
	// Stream IDs are the server's clock and Record.Time the writer's, so
	// time is filtered on the records, walking back from the newest and
	// stopping a little before Since (appends come roughly in time order).
	var out []Record
	end := "+"
	for len(out) < q.limit() {
		msgs, err := s.c.XRevRangeN(ctx, s.key(pair, "log"), end, "-", 500).Result()
		if err != nil {
			return nil, s.wrap(ctx, "read log of "+pair, err)
		}
		for _, m := range msgs {
			v, _ := m.Values["r"].(string)
			r, err := decodeRecord([]byte(v))
			if err != nil {
				return nil, err
			}
			if !q.Since.IsZero() && r.Time.Before(q.Since.Add(-logSlack)) {
				return out, nil
			}
			if q.match(&r) && len(out) < q.limit() {
				out = append(out, r)
			}
		}
		if len(msgs) < 500 {
			break
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	return out, nil
}
