package graphsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Groups delta (GET /groups/delta). Source: "group: delta" and "Get
// incremental changes for groups" (learn.microsoft.com/graph/api/group-delta,
// learn.microsoft.com/graph/delta-query-groups): with members selected,
// each group carries members@delta, the direct members (never nested ones)
// of an initial round or the member changes since the token; removed
// members carry "@removed": {"reason": "deleted"}. Graph splits a group
// with many members over several objects with the same id, so a consumer
// merges them; the simulator splits at groupDeltaChunk members, and only
// the first object of a group carries its properties. A later round lists
// a group only when a selected property or (members selected) its
// membership changed; a members-only change carries no property. Deleted
// groups come as {"id", "@removed": {"reason": "deleted"}} (security
// groups are deleted for good).

// groupDeltaChunk is how many members one object of a groups delta page
// carries at most.
const groupDeltaChunk = 50

// groupDeltaKind marks a groups-delta token; users-delta tokens hold a
// bool under the same key, so neither kind opens as the other.
const groupDeltaKind = "groups"

// groupDeltaState is what a groups-delta skip or delta token carries.
type groupDeltaState struct {
	K     string   `json:"k"`           // groupDeltaKind
	T     string   `json:"t"`           // tenant ID
	Ep    uint64   `json:"e"`           // tenant epoch (ExpireDeltaTokens bumps it)
	Iat   int64    `json:"i"`           // issue time, unix seconds
	Sel   []string `json:"s,omitempty"` // selected properties (nil: all)
	Mem   bool     `json:"m,omitempty"` // members tracked
	IDs   []string `json:"f,omitempty"` // $filter=id eq ... groups
	Base  uint64   `json:"b"`           // report changes after this group sequence
	Snap  uint64   `json:"n"`           // group sequence when the round started
	After string   `json:"a,omitempty"` // skip token: last group whose objects were all sent
	Part  string   `json:"p,omitempty"` // skip token: group whose objects were partly sent
	PartM string   `json:"q,omitempty"` // ... and the last member sent of it
	Init  bool     `json:"x,omitempty"` // initial round: current state, no removals
	Skip  bool     `json:"sk,omitempty"`
}

func groupsDelta(c *call) response {
	t := c.t
	var st groupDeltaState
	dt, hasDT := c.query["$deltatoken"]
	sk, hasSK := c.query["$skiptoken"]
	latest := hasDT && dt[0] == "latest"
	switch {
	case hasSK || (hasDT && !latest):
		raw := ""
		if hasSK {
			raw = sk[0]
		} else {
			raw = dt[0]
		}
		if !c.s.unseal(raw, &st) || st.K != groupDeltaKind || st.T != t.id || st.Skip != hasSK {
			return c.fail(badRequest("The delta or skip token is malformed or does not belong to this request."))
		}
		t.mu.RLock()
		epoch := t.epoch
		t.mu.RUnlock()
		if st.Ep < epoch || c.now.Sub(time.Unix(st.Iat, 0)) > c.s.opts.DeltaTokenMaxAge {
			return c.fail(c.s.expiredToken())
		}
		if !hasSK {
			// A new round: report what changed since the last one.
			st.Base, st.Init, st.After, st.Part, st.PartM = st.Snap, false, "", "", ""
			t.mu.RLock()
			st.Snap = t.gseq
			t.mu.RUnlock()
		}
	default:
		if e := c.queryOptions("$select", "$filter", "$deltatoken"); e != nil {
			for _, opt := range []string{"$top", "$expand", "$orderby"} {
				if _, bad := c.query[opt]; bad {
					return c.fail(badRequest("The query option " + opt + " is not supported on groups delta."))
				}
			}
			return c.fail(e)
		}
		props, members, e := parseGroupSelect(c.query.Get("$select"), true)
		if e != nil {
			return c.fail(e)
		}
		if props == nil && !members && strings.TrimSpace(c.query.Get("$select")) == "" {
			// No $select: every property is tracked, members included.
			members = true
		} else if props == nil {
			props = []string{"id"}
		}
		st.Sel, st.Mem = props, members
		if f := c.query.Get("$filter"); f != "" {
			fq, err := parseFilter(f)
			if err != nil {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, err.Error()))
			}
			ids, ok := idsOnly(fq.root)
			if !ok {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, "Groups delta supports $filter only on 'id eq' expressions joined by 'or'."))
			}
			if len(ids) > 50 {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, "Groups delta supports at most 50 ids in $filter."))
			}
			st.IDs = ids
		}
		st.K, st.T = groupDeltaKind, t.id
		t.mu.RLock()
		st.Ep, st.Snap = t.epoch, t.gseq
		t.mu.RUnlock()
		st.Init = true
		if latest {
			st.Init, st.Base = false, st.Snap
			return c.groupDeltaPage(&st, nil, false)
		}
	}
	return c.groupDeltaRound(&st)
}

// groupDeltaObj is one object of a groups delta page before rendering.
type groupDeltaObj struct {
	id      string
	g       *group // nil: removed
	props   bool   // carries the group's properties
	full    bool   // the group is new to this round (initial round, or created since)
	members []memberEntry
	last    bool // the group's last object
}

// memberEntry is one member of members@delta.
type memberEntry struct {
	id      string
	group   bool
	removed bool
}

// groupDeltaRound computes the next page of the round described by st.
func (c *call) groupDeltaRound(st *groupDeltaState) response {
	t := c.t
	pageSize := 100
	if m := maxPageRe.FindStringSubmatch(c.header.Get("Prefer")); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n < 1000 {
			pageSize = n
		}
	}
	minimal := strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal")
	props := st.Sel
	if props == nil {
		props = groupProps
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !st.Init && t.gseq <= st.Base {
		return c.groupDeltaPage(st, nil, false) // nothing changed
	}
	var want map[string]bool
	if st.IDs != nil {
		want = map[string]bool{}
		for _, id := range st.IDs {
			want[strings.ToLower(id)] = true
		}
	}
	// The groups (and, after the initial round, deleted groups) from the
	// resume point on, in ID order.
	from, inclusive := st.After, false
	if st.Part != "" {
		from, inclusive = st.Part, true
	}
	after := func(id string) bool { return from == "" || id > from || (inclusive && id == from) }
	var ids []string
	for _, id := range t.gids {
		if after(id) && (want == nil || want[id]) {
			ids = append(ids, id)
		}
	}
	if !st.Init {
		for id, seq := range t.gtombs {
			if seq > st.Base && after(id) && (want == nil || want[id]) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
	}
	var objs []groupDeltaObj
	for _, id := range ids {
		if len(objs) > pageSize {
			break
		}
		g := t.groups[id]
		if g == nil {
			objs = append(objs, groupDeltaObj{id: id, last: true})
			continue
		}
		full := st.Init || g.created > st.Base
		changed := full
		for _, p := range props {
			changed = changed || g.seqs[p] > st.Base
		}
		var entries []memberEntry
		if st.Mem {
			entries = t.memberChanges(g, full, st.Base)
		}
		if !changed && len(entries) == 0 {
			continue
		}
		resuming := id == st.Part
		if resuming {
			k, _ := slices.BinarySearchFunc(entries, st.PartM, func(e memberEntry, id string) int { return strings.Compare(e.id, id) })
			for k < len(entries) && entries[k].id <= st.PartM {
				k++
			}
			entries = entries[k:]
			if len(entries) == 0 {
				continue
			}
		}
		for start := 0; ; start += groupDeltaChunk {
			end := min(start+groupDeltaChunk, len(entries))
			objs = append(objs, groupDeltaObj{id: id, g: g, props: start == 0 && !resuming && changed,
				full: full, members: entries[start:end], last: end == len(entries)})
			if end == len(entries) {
				break
			}
		}
	}
	more := len(objs) > pageSize
	if more {
		objs = objs[:pageSize]
	}
	values := make([]any, 0, len(objs))
	for _, o := range objs {
		values = append(values, renderGroupDelta(o, props, st.Base, minimal))
	}
	next := *st
	if more {
		lastObj := objs[len(objs)-1]
		if lastObj.last {
			next.After, next.Part, next.PartM = lastObj.id, "", ""
		} else {
			next.Part, next.PartM = lastObj.id, lastObj.members[len(lastObj.members)-1].id
		}
	}
	return c.groupDeltaPage(&next, values, more)
}

// memberChanges lists, in ID order, a group's members for members@delta:
// every direct member when full, else the changes after base.
func (t *Tenant) memberChanges(g *group, full bool, base uint64) []memberEntry {
	var out []memberEntry
	if full {
		out = make([]memberEntry, 0, len(g.members))
		for _, id := range g.members {
			_, isGroup := t.groups[id]
			out = append(out, memberEntry{id: id, group: isGroup})
		}
	} else {
		for id, m := range g.marks {
			if m.seq > base {
				out = append(out, memberEntry{id: id, group: m.group, removed: m.removed})
			}
		}
	}
	slices.SortFunc(out, func(a, b memberEntry) int { return strings.Compare(a.id, b.id) })
	return out
}

// renderGroupDelta renders one object of a groups delta page. The
// properties are all the selected ones (by default) or, with Prefer:
// return=minimal, those changed since base; a new group's all.
func renderGroupDelta(o groupDeltaObj, props []string, base uint64, minimal bool) obj {
	if o.g == nil {
		return obj{{"id", o.id}, {"@removed", obj{{"reason", "deleted"}}}}
	}
	out := obj{}
	if o.props {
		for _, p := range props {
			if p == "id" {
				continue
			}
			if minimal && !o.full && o.g.seqs[p] <= base {
				continue
			}
			out = append(out, kv{p, groupValue(o.g, p)})
		}
	}
	out = append(out, kv{"id", o.id})
	if len(o.members) > 0 {
		ms := make([]any, 0, len(o.members))
		for _, m := range o.members {
			typ := "#microsoft.graph.user"
			if m.group {
				typ = "#microsoft.graph.group"
			}
			e := obj{{"@odata.type", typ}, {"id", m.id}}
			if m.removed {
				e = append(e, kv{"@removed", obj{{"reason", "deleted"}}})
			}
			ms = append(ms, e)
		}
		out = append(out, kv{"members@delta", ms})
	}
	return out
}

// groupDeltaPage writes a page with its nextLink (more: st says where the
// round goes on) or its deltaLink.
func (c *call) groupDeltaPage(st *groupDeltaState, values []any, more bool) response {
	if values == nil {
		values = []any{}
	}
	out := obj{{"@odata.context", c.contextURL("groups")}}
	next := *st
	next.Iat = c.now.Unix()
	if more {
		next.Skip = true
		out = append(out, kv{"@odata.nextLink", c.s.GraphURL() + "/groups/delta()?$skiptoken=" + c.s.seal(next)})
	} else {
		next.Skip, next.After, next.Part, next.PartM, next.Init = false, "", "", "", false
		out = append(out, kv{"@odata.deltaLink", c.s.GraphURL() + "/groups/delta()?$deltatoken=" + c.s.seal(next)})
	}
	out = append(out, kv{"value", values})
	r := jsonResponse(http.StatusOK, out)
	if strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal") {
		r.header.Set("Preference-Applied", "return=minimal")
	}
	return r
}
