package guestmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// Apply writes a batch, one script call per chunk: a single chunk in one
// round trip, more chunks in one pipeline plus a final call that carries
// the delta links, status and unlocks.
func (s *redisStore) Apply(ctx context.Context, lease *Lease, b Batch) error {
	b, err := prepareBatch(s, lease, b)
	if err != nil {
		return err
	}
	if b, err = prepareGroups(b, s.now()); err != nil {
		return err
	}
	pair := lease.pair
	chunks := splitGroupBatch(b, chunkItems)
	calls := make([][]any, len(chunks))
	keys := make([][]string, len(chunks))
	for i, c := range chunks {
		if keys[i], calls[i], err = s.applyArgs(pair, lease.token, c); err != nil {
			return err
		}
	}
	op := "write " + pair
	if n := len(chunks) - 1; n > 0 {
		if err := s.pipelineScripts(ctx, scriptApply, keys[:n], calls[:n]); err != nil {
			return s.wrap(ctx, op, err)
		}
	}
	last := len(chunks) - 1
	if err := s.runScript(ctx, scriptApply, keys[last], calls[last]...).Err(); err != nil {
		return s.wrap(ctx, op, err)
	}
	return nil
}

// pipelineScripts runs one script with many argument lists in one round
// trip; calls refused with NOSCRIPT (Redis restarted and lost its script
// cache) are run again after loading the script. A NOSCRIPT call did
// nothing, so only those are repeated.
func (s *redisStore) pipelineScripts(ctx context.Context, sc *redis.Script, keys [][]string, args [][]any) error {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(args))
	for i := range args {
		cmds[i] = sc.EvalSha(ctx, pipe, keys[i], args[i]...)
	}
	_, _ = pipe.Exec(ctx)
	var retry []int
	for i, c := range cmds {
		switch err := c.Err(); {
		case err == nil:
		case isNoScript(err):
			retry = append(retry, i)
		default:
			return err
		}
	}
	if len(retry) == 0 {
		return nil
	}
	if err := sc.Load(ctx, s.c).Err(); err != nil {
		return err
	}
	pipe = s.c.Pipeline()
	for _, i := range retry {
		cmds[i] = sc.EvalSha(ctx, pipe, keys[i], args[i]...)
	}
	_, _ = pipe.Exec(ctx)
	for _, i := range retry {
		if err := cmds[i].Err(); err != nil {
			return err
		}
	}
	return nil
}

// applyArgs lays out one chunk for scriptApply.
func (s *redisStore) applyArgs(pair, token string, c Batch) ([]string, []any, error) {
	keys := []string{
		s.key(pair, "lease"), s.key(pair, "map"), s.key(pair, "delta"), s.key(pair, "status"),
		s.key(pair, "quar"), s.key(pair, "staged"), s.key(pair, "decide"), s.key(pair, "log"),
		s.key(pair, "fast"), s.key(pair, "groups"), s.key(pair, "glink"),
	}
	flags := ""
	if c.DropMap {
		flags += "M"
	}
	if c.DropDeltaLink {
		flags += "D"
	}
	if c.ClearQuarantine {
		flags += "Q"
	}
	if c.DropGroups {
		flags += "G"
	}
	if c.FastLink != nil {
		flags += "F" // a fast lane link follows the delta link
	}
	if c.GroupLink != nil {
		flags += "L" // a group link follows the fast lane link
	}
	hasDelta := "0"
	if c.DeltaLink != nil {
		hasDelta = "1"
	}
	var status, quar []byte
	var err error
	if c.Status != nil {
		st := *c.Status
		st.Pair, st.Quarantine, st.StagedCount = pair, Quarantine{}, 0
		if status, err = json.Marshal(st); err != nil {
			return nil, nil, fmt.Errorf("guestmap: encode status: %w", err)
		}
	}
	if c.Quarantine != nil {
		q := *c.Quarantine
		q.On = true
		if q.Since.IsZero() {
			q.Since = s.now()
		}
		if quar, err = json.Marshal(q); err != nil {
			return nil, nil, fmt.Errorf("guestmap: encode quarantine: %w", err)
		}
	}
	args := make([]any, 0, 14+len(c.Delete)+2*len(c.Put)+len(c.Unstage)+2*len(c.Stage)+len(c.Log)+
		len(c.DeleteGroups)+2*len(c.PutGroups)+3+len(c.Unlock))
	args = append(args, token, flags, s.opts.LogCap, len(c.Delete), len(c.Put), len(c.Unstage), len(c.Stage),
		len(c.Log), hasDelta, string(status), string(quar), len(c.Unlock), len(c.DeleteGroups), len(c.PutGroups))
	for _, id := range c.Delete {
		args = append(args, id)
	}
	for i := range c.Put {
		args = append(args, c.Put[i].SourceID, encodeEntry(&c.Put[i]))
	}
	for _, id := range c.Unstage {
		args = append(args, id)
	}
	for _, st := range c.Stage {
		j, err := json.Marshal(st)
		if err != nil {
			return nil, nil, fmt.Errorf("guestmap: encode staged %s: %w", st.SourceID, err)
		}
		args = append(args, st.SourceID, j)
	}
	for i := range c.Log {
		j, err := encodeRecord(&c.Log[i])
		if err != nil {
			return nil, nil, err
		}
		args = append(args, j)
	}
	for _, id := range c.DeleteGroups {
		args = append(args, id)
	}
	for i := range c.PutGroups {
		args = append(args, c.PutGroups[i].SourceID, encodeGroup(&c.PutGroups[i]))
	}
	if c.DeltaLink != nil {
		args = append(args, *c.DeltaLink)
	}
	if c.FastLink != nil {
		args = append(args, *c.FastLink)
	}
	if c.GroupLink != nil {
		args = append(args, *c.GroupLink)
	}
	for _, l := range c.Unlock {
		keys = append(keys, s.lockKey(pair, l.sourceID))
		args = append(args, l.token)
	}
	return keys, args, nil
}

// Get reads one entry.
func (s *redisStore) Get(ctx context.Context, pair, sourceID string) (Entry, bool, error) {
	if err := checkPair(pair); err != nil {
		return Entry{}, false, err
	}
	v, err := s.c.HGet(ctx, s.key(pair, "map"), sourceID).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, s.wrap(ctx, "read entry of "+pair, err)
	}
	e, err := decodeEntry(sourceID, v)
	return e, err == nil, err
}

// GetMany reads entries with HMGET chunks, all in one pipeline.
func (s *redisStore) GetMany(ctx context.Context, pair string, ids []string) (map[string]Entry, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	out := make(map[string]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := s.c.Pipeline()
	var cmds []*redis.SliceCmd
	for i := 0; i < len(ids); i += chunkItems {
		cmds = append(cmds, pipe.HMGet(ctx, s.key(pair, "map"), ids[i:min(i+chunkItems, len(ids))]...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.wrap(ctx, "read entries of "+pair, err)
	}
	for ci, c := range cmds {
		for j, v := range c.Val() {
			str, ok := v.(string)
			if !ok {
				continue
			}
			id := ids[ci*chunkItems+j]
			e, err := decodeEntry(id, []byte(str))
			if err != nil {
				return nil, err
			}
			out[id] = e
		}
	}
	return out, nil
}

// Scan pages through the map with HSCAN. HSCAN may repeat a field while
// Redis rehashes, so repeats are dropped.
func (s *redisStore) Scan(ctx context.Context, pair string, page func([]Entry) error) error {
	if err := checkPair(pair); err != nil {
		return err
	}
	seen := make(map[string]struct{})
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, s.key(pair, "map"), cursor, "", chunkItems).Result()
		if err != nil {
			return s.wrap(ctx, "scan entries of "+pair, err)
		}
		es := make([]Entry, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if _, dup := seen[kv[i]]; dup {
				continue
			}
			seen[kv[i]] = struct{}{}
			e, err := decodeEntry(kv[i], []byte(kv[i+1]))
			if err != nil {
				return err
			}
			es = append(es, e)
		}
		if len(es) > 0 {
			if err := page(es); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// Count returns HLEN of the map.
func (s *redisStore) Count(ctx context.Context, pair string) (int, error) {
	if err := checkPair(pair); err != nil {
		return 0, err
	}
	n, err := s.c.HLen(ctx, s.key(pair, "map")).Result()
	if err != nil {
		return 0, s.wrap(ctx, "count entries of "+pair, err)
	}
	return int(n), nil
}

// groupScanCount is the COUNT hint of GroupEntries' HSCAN: group values
// can be megabytes each, so pages are kept short.
const groupScanCount = 100

// GroupEntries pages through the pair's groups hash with HSCAN (one large
// reply for a pair of large groups would hold Redis's output buffer), drops
// the fields HSCAN repeats while Redis rehashes, and sorts.
func (s *redisStore) GroupEntries(ctx context.Context, pair string) ([]GroupEntry, error) {
	if err := checkPair(pair); err != nil {
		return nil, err
	}
	var out []GroupEntry
	seen := make(map[string]struct{})
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, s.key(pair, "groups"), cursor, "", groupScanCount).Result()
		if err != nil {
			return nil, s.wrap(ctx, "read group entries of "+pair, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if _, dup := seen[kv[i]]; dup {
				continue
			}
			seen[kv[i]] = struct{}{}
			g, err := decodeGroup(kv[i], []byte(kv[i+1]))
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	sortGroups(out)
	return out, nil
}
