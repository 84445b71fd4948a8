package graphsim

import (
	"slices"
	"strings"
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
// Its deltaToken's sequences are the group sequence (gseq).
type groupDeltaState struct {
	deltaToken
	K     string   `json:"k"`           // groupDeltaKind
	Sel   []string `json:"s,omitempty"` // selected properties (nil: all)
	Mem   bool     `json:"m,omitempty"` // members tracked
	After string   `json:"a,omitempty"` // skip token: last group whose objects were all sent
	Part  string   `json:"p,omitempty"` // skip token: group whose objects were partly sent
	PartM string   `json:"q,omitempty"` // ... and the last member sent of it
	Skip  bool     `json:"sk,omitempty"`
}

func (st *groupDeltaState) token() *deltaToken   { return &st.deltaToken }
func (st *groupDeltaState) valid(skip bool) bool { return st.K == groupDeltaKind && st.Skip == skip }
func (st *groupDeltaState) rewind()              { st.After, st.Part, st.PartM = "", "", "" }
func (st *groupDeltaState) seq(t *Tenant) uint64 { return t.gseq }

func groupsDelta(c *call) response {
	var st groupDeltaState
	r := c.deltaRequest()
	if r.raw != "" {
		if e := c.openDelta(r, &st); e != nil {
			return c.fail(e)
		}
		return c.groupDeltaRound(&st)
	}
	if e := c.deltaOptions("groups delta", "$top", "$expand", "$orderby"); e != nil {
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
	if st.IDs, e = c.deltaIDs("Groups delta"); e != nil {
		return c.fail(e)
	}
	st.K = groupDeltaKind
	c.startDelta(&st, r.latest)
	if r.latest {
		return c.groupDeltaPage(&st, nil, false)
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
	pageSize, minimal := c.deltaPrefer()
	props := st.Sel
	if props == nil {
		props = groupProps
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !st.Init && t.gseq <= st.Base {
		return c.groupDeltaPage(st, nil, false) // nothing changed
	}
	want := st.wanted()
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
	next := *st
	next.Iat = c.now.Unix()
	if more {
		next.Skip = true
	} else {
		next.Skip, next.After, next.Part, next.PartM, next.Init = false, "", "", "", false
	}
	return c.deltaResponse("groups", more, next, values)
}
