package graphsim

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deltaState is what a users-delta skip or delta token carries (sealed,
// opaque to clients).
type deltaState struct {
	T     string   `json:"t"`           // tenant ID
	Ep    uint64   `json:"e"`           // tenant epoch (ExpireDeltaTokens bumps it)
	Iat   int64    `json:"i"`           // issue time, unix seconds
	Sel   []string `json:"s,omitempty"` // selected properties (nil: default set)
	Mgr   bool     `json:"m,omitempty"` // manager tracked
	IDs   []string `json:"f,omitempty"` // $filter=id eq ... objects
	Base  uint64   `json:"b"`           // report changes after this sequence
	Snap  uint64   `json:"n"`           // sequence when the round started
	After string   `json:"a,omitempty"` // skip token: last ID returned
	Init  bool     `json:"x,omitempty"` // initial round: current state, no removals
	Skip  bool     `json:"k,omitempty"` // a skip token (else a delta token)
}

func (st *deltaState) selection() *selection {
	sel := &selection{manager: st.Mgr}
	if st.Sel == nil {
		sel.props = defaultSelect
		return sel
	}
	for _, n := range st.Sel {
		if p := propIndex[n]; p != nil {
			sel.props = append(sel.props, p)
		}
	}
	return sel
}

var maxPageRe = regexp.MustCompile(`odata\.maxpagesize=(\d+)`)

func usersDelta(c *call) response {
	t := c.t
	var st deltaState
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
		if !c.s.unseal(raw, &st) || st.T != t.id || st.Skip != hasSK {
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
			st.Base, st.Init, st.After = st.Snap, false, ""
			t.mu.RLock()
			st.Snap = t.seq
			t.mu.RUnlock()
		}
	default:
		if e := c.queryOptions("$select", "$filter", "$deltatoken"); e != nil {
			if _, bad := c.query["$top"]; bad {
				return c.fail(badRequest("The query option $top is not supported on users delta."))
			}
			if _, bad := c.query["$expand"]; bad {
				return c.fail(badRequest("The query option $expand is not supported on users delta."))
			}
			return c.fail(e)
		}
		sel, e := parseSelect(c.query.Get("$select"), true)
		if e != nil {
			return c.fail(e)
		}
		if c.query.Get("$select") != "" {
			for _, p := range sel.props {
				st.Sel = append(st.Sel, p.name)
			}
		}
		st.Mgr = sel.manager
		if f := c.query.Get("$filter"); f != "" {
			fq, err := parseFilter(f)
			if err != nil {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, err.Error()))
			}
			ids, ok := idsOnly(fq.root)
			if !ok {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, "Users delta supports $filter only on 'id eq' expressions joined by 'or'."))
			}
			if len(ids) > 50 {
				return c.fail(errf(http.StatusBadRequest, codeUnsupported, "Users delta supports at most 50 ids in $filter."))
			}
			st.IDs = ids
		}
		st.T = t.id
		t.mu.RLock()
		st.Ep, st.Snap = t.epoch, t.seq
		t.mu.RUnlock()
		st.Init = true
		if latest {
			st.Init, st.Base = false, st.Snap
			return c.deltaPage(&st, nil, false)
		}
	}
	return c.deltaRound(&st)
}

func (s *Server) expiredToken() *apiError {
	if s.opts.DeltaExpiredStatus == http.StatusGone {
		return errf(http.StatusGone, codeSyncState, "The sync state generation is no longer available; resync from scratch with a new delta query (410 Gone).")
	}
	return errf(http.StatusBadRequest, codeSyncState, "Sync state not found or expired. Start a new delta round without a token.")
}

// deltaItem is one entry of a delta page before rendering.
type deltaItem struct {
	id     string
	u      *user
	reason string // "changed" (soft-deleted) or "deleted" (hard)
}

// deltaRound computes the next page of the round described by st.
func (c *call) deltaRound(st *deltaState) response {
	t := c.t
	pageSize := 100
	if m := maxPageRe.FindStringSubmatch(c.header.Get("Prefer")); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n < 1000 {
			pageSize = n
		}
	}
	minimal := strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal")
	sel := st.selection()
	t.mu.RLock()
	pending := len(t.deleted) > 0
	t.mu.RUnlock()
	if pending {
		t.mu.Lock()
		t.purgeExpired(c.now)
		t.mu.Unlock()
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !st.Init && t.seq <= st.Base {
		// Nothing changed in the tenant since the last round: the common,
		// cheap case a no-change cycle relies on.
		return c.deltaPage(st, nil, false)
	}

	var want map[string]bool
	if st.IDs != nil {
		want = map[string]bool{}
		for _, id := range st.IDs {
			want[strings.ToLower(id)] = true
		}
	}
	var items []deltaItem
	consider := func(id string) bool { return want == nil || want[id] }
	// Only the first pageSize+1 items in ID order matter (the page and
	// whether there is more); the live users come in ID order, so their
	// walk stops there, and the deleted ones merged below cannot push a
	// live user that was cut off back into the page.
	start, ids := 0, t.liveIDs()
	if st.After != "" {
		start, _ = slices.BinarySearch(ids, st.After)
		if start < len(ids) && ids[start] == st.After {
			start++
		}
	}
	for _, id := range ids[start:] {
		if !consider(id) {
			continue
		}
		u := t.users[id]
		if st.Init || u.created > st.Base || changedSince(u, sel, st.Base) {
			items = append(items, deltaItem{id: id, u: u})
			if len(items) > pageSize {
				break
			}
		}
	}
	if !st.Init {
		for id, u := range t.deleted {
			if u.deletedSeq > st.Base && (st.After == "" || id > st.After) && consider(id) {
				items = append(items, deltaItem{id: id, reason: "changed"})
			}
		}
		for id, seq := range t.tombs {
			if seq > st.Base && (st.After == "" || id > st.After) && consider(id) {
				items = append(items, deltaItem{id: id, reason: "deleted"})
			}
		}
		slices.SortFunc(items, func(a, b deltaItem) int { return strings.Compare(a.id, b.id) })
	}
	more := false
	if len(items) > pageSize {
		items, more = items[:pageSize], true
	}
	return c.deltaPage(st, items, more, func(it deltaItem) any {
		if it.reason != "" {
			return obj{{"id", it.id}, {"@removed", obj{{"reason", it.reason}}}}
		}
		full := st.Init || it.u.created > st.Base
		return t.renderDelta(it.u, sel, st.Base, full, minimal)
	})
}

// deltaPage writes a page with its nextLink or deltaLink.
func (c *call) deltaPage(st *deltaState, items []deltaItem, more bool, render ...func(deltaItem) any) response {
	values := make([]any, 0, len(items))
	for _, it := range items {
		values = append(values, render[0](it))
	}
	out := obj{{"@odata.context", c.contextURL("users")}}
	next := *st
	next.Iat = c.now.Unix()
	if more {
		next.Skip, next.After = true, items[len(items)-1].id
		out = append(out, kv{"@odata.nextLink", c.s.GraphURL() + "/users/delta()?$skiptoken=" + c.s.seal(next)})
	} else {
		next.Skip, next.After, next.Init = false, "", false
		out = append(out, kv{"@odata.deltaLink", c.s.GraphURL() + "/users/delta()?$deltatoken=" + c.s.seal(next)})
	}
	out = append(out, kv{"value", values})
	r := jsonResponse(http.StatusOK, out)
	if strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal") {
		r.header.Set("Preference-Applied", "return=minimal")
	}
	return r
}

// changedSince reports whether a tracked property changed after base.
func changedSince(u *user, sel *selection, base uint64) bool {
	for _, p := range sel.props {
		if u.seq(p.name) > base && !hiddenFromDelta(p) {
			return true
		}
	}
	return sel.manager && u.managerSeq > base
}

// renderDelta renders a changed or new user the way users delta does: by
// default every selected property that was ever set (changed or not), with
// Prefer: return=minimal only those changed since the last round; new
// objects in full.
func (t *Tenant) renderDelta(u *user, sel *selection, base uint64, full, minimal bool) obj {
	o := obj{}
	for _, p := range sel.props {
		if p.name == "id" || hiddenFromDelta(p) {
			continue
		}
		_, set := u.props[p.name]
		switch {
		case full:
		case minimal && u.seq(p.name) <= base:
			continue
		case !set:
			continue
		}
		o = append(o, kv{p.name, propValue(u, p)})
	}
	o = append(o, kv{"id", u.id})
	if sel.manager {
		changed := u.managerSeq > base
		switch {
		case u.manager != "" && (full || !minimal || changed):
			o = append(o, kv{"manager@delta", []any{obj{{"@odata.type", "#microsoft.graph.user"}, {"id", u.manager}}}})
		case u.manager == "" && changed && !full && u.prevManager != "":
			o = append(o, kv{"manager@delta", []any{obj{{"@odata.type", "#microsoft.graph.user"}, {"id", u.prevManager}, {"@removed", obj{{"reason", "deleted"}}}}}})
		}
	}
	return o
}

// hiddenFromDelta reports a property users delta never returns nor
// reports changes of: showInAddressList ("Do not use in Microsoft Graph",
// user resource type page; docs/graph-behaviour.md).
func hiddenFromDelta(p *propDef) bool { return p.name == "showInAddressList" }
