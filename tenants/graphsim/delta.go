package graphsim

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deltaToken is what the skip and delta tokens of users and groups delta
// share (sealed, opaque to clients): whose they are, when they were
// issued, and which changes the round reports.
type deltaToken struct {
	T    string   `json:"t"`           // tenant ID
	Ep   uint64   `json:"e"`           // tenant epoch (ExpireDeltaTokens bumps it)
	Iat  int64    `json:"i"`           // issue time, unix seconds
	IDs  []string `json:"f,omitempty"` // $filter=id eq ... objects
	Base uint64   `json:"b"`           // report changes after this sequence
	Snap uint64   `json:"n"`           // sequence when the round started
	Init bool     `json:"x,omitempty"` // initial round: current state, no removals
}

// deltaKind is a delta token of one kind (users or groups): what only
// the kind knows.
type deltaKind interface {
	token() *deltaToken
	// valid checks the kind's own marks once opened: skip, a skip token
	// was sent (else a delta token).
	valid(skip bool) bool
	// rewind forgets where a round stood, for the next round.
	rewind()
	// seq is the tenant's change sequence of the kind; the caller holds
	// t.mu.
	seq(t *Tenant) uint64
}

// deltaState is what a users-delta skip or delta token carries.
type deltaState struct {
	deltaToken
	Sel   []string `json:"s,omitempty"` // selected properties (nil: default set)
	Mgr   bool     `json:"m,omitempty"` // manager tracked
	After string   `json:"a,omitempty"` // skip token: last ID returned
	Skip  bool     `json:"k,omitempty"` // a skip token (else a delta token)
}

func (st *deltaState) token() *deltaToken   { return &st.deltaToken }
func (st *deltaState) valid(skip bool) bool { return st.Skip == skip }
func (st *deltaState) rewind()              { st.After = "" }
func (st *deltaState) seq(t *Tenant) uint64 { return t.seq }

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
	var st deltaState
	r := c.deltaRequest()
	if r.raw != "" {
		if e := c.openDelta(r, &st); e != nil {
			return c.fail(e)
		}
		return c.deltaRound(&st)
	}
	if e := c.deltaOptions("users delta", "$top", "$expand"); e != nil {
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
	if st.IDs, e = c.deltaIDs("Users delta"); e != nil {
		return c.fail(e)
	}
	c.startDelta(&st, r.latest)
	if r.latest {
		return c.deltaPage(&st, nil, false)
	}
	return c.deltaRound(&st)
}

// deltaRequest is the token a delta request goes on from: raw, a skip
// token (skip) or a delta token; none ("") starts an initial round, or
// with latest ($deltatoken=latest) answers a deltaLink from now on.
type deltaRequest struct {
	raw          string
	skip, latest bool
}

func (c *call) deltaRequest() deltaRequest {
	dt, hasDT := c.query["$deltatoken"]
	sk, hasSK := c.query["$skiptoken"]
	latest := hasDT && dt[0] == "latest"
	switch {
	case hasSK:
		return deltaRequest{raw: sk[0], skip: true}
	case hasDT && !latest:
		return deltaRequest{raw: dt[0]}
	}
	return deltaRequest{latest: latest}
}

// openDelta opens r's token into st. A token that does not open, is
// another tenant's or not st's kind is malformed; one from an earlier
// epoch or older than DeltaTokenMaxAge has expired. A delta token starts
// the next round: it reports what changed since the last one.
func (c *call) openDelta(r deltaRequest, st deltaKind) *apiError {
	t := c.t
	tok := st.token()
	if !c.s.unseal(r.raw, st) || tok.T != t.id || !st.valid(r.skip) {
		return badRequest("The delta or skip token is malformed or does not belong to this request.")
	}
	t.mu.RLock()
	epoch := t.epoch
	t.mu.RUnlock()
	if tok.Ep < epoch || c.now.Sub(time.Unix(tok.Iat, 0)) > c.s.opts.DeltaTokenMaxAge {
		return c.s.expiredToken()
	}
	if !r.skip {
		tok.Base, tok.Init = tok.Snap, false
		st.rewind()
		t.mu.RLock()
		tok.Snap = st.seq(t)
		t.mu.RUnlock()
	}
	return nil
}

// startDelta fills a new token of st's kind: an initial round of the
// tenant's state now or, with latest, no round but changes from now on.
func (c *call) startDelta(st deltaKind, latest bool) {
	t := c.t
	tok := st.token()
	tok.T = t.id
	t.mu.RLock()
	tok.Ep, tok.Snap = t.epoch, st.seq(t)
	t.mu.RUnlock()
	tok.Init = !latest
	if latest {
		tok.Base = tok.Snap
	}
}

// deltaOptions checks the query options of a delta request without a
// token: Graph names an option of unsupported as not supported on what
// ("users delta").
func (c *call) deltaOptions(what string, unsupported ...string) *apiError {
	e := c.queryOptions("$select", "$filter", "$deltatoken")
	if e == nil {
		return nil
	}
	for _, opt := range unsupported {
		if _, bad := c.query[opt]; bad {
			return badRequest("The query option " + opt + " is not supported on " + what + ".")
		}
	}
	return e
}

// deltaIDs reads the $filter of a delta request without a token: 'id eq'
// expressions joined by 'or', 50 at most; nil without a $filter. what
// names the delta in errors ("Users delta").
func (c *call) deltaIDs(what string) ([]string, *apiError) {
	f := c.query.Get("$filter")
	if f == "" {
		return nil, nil
	}
	fq, err := parseFilter(f)
	if err != nil {
		return nil, errf(http.StatusBadRequest, codeUnsupported, err.Error())
	}
	ids, ok := idsOnly(fq.root)
	if !ok {
		return nil, errf(http.StatusBadRequest, codeUnsupported, what+" supports $filter only on 'id eq' expressions joined by 'or'.")
	}
	if len(ids) > 50 {
		return nil, errf(http.StatusBadRequest, codeUnsupported, what+" supports at most 50 ids in $filter.")
	}
	return ids, nil
}

// deltaPrefer reads a delta request's Prefer header: the page size
// (odata.maxpagesize, else 100) and return=minimal.
func (c *call) deltaPrefer() (pageSize int, minimal bool) {
	pageSize = 100
	if m := maxPageRe.FindStringSubmatch(c.header.Get("Prefer")); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 && n < 1000 {
			pageSize = n
		}
	}
	return pageSize, strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal")
}

// wanted is the set of the token's $filter IDs (lower case); nil for all.
func (d *deltaToken) wanted() map[string]bool {
	if d.IDs == nil {
		return nil
	}
	want := map[string]bool{}
	for _, id := range d.IDs {
		want[strings.ToLower(id)] = true
	}
	return want
}

// deltaResponse writes a delta page of collection ("users", "groups"):
// with more its nextLink carrying next as a skip token, else its
// deltaLink carrying next as a delta token; then values.
func (c *call) deltaResponse(collection string, more bool, next any, values []any) response {
	out := obj{{"@odata.context", c.contextURL(collection)}}
	if more {
		out = append(out, kv{"@odata.nextLink", c.s.GraphURL() + "/" + collection + "/delta()?$skiptoken=" + c.s.seal(next)})
	} else {
		out = append(out, kv{"@odata.deltaLink", c.s.GraphURL() + "/" + collection + "/delta()?$deltatoken=" + c.s.seal(next)})
	}
	out = append(out, kv{"value", values})
	r := jsonResponse(http.StatusOK, out)
	if strings.Contains(strings.ToLower(c.header.Get("Prefer")), "return=minimal") {
		r.header.Set("Preference-Applied", "return=minimal")
	}
	return r
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
	pageSize, minimal := c.deltaPrefer()
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

	want := st.wanted()
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
	next := *st
	next.Iat = c.now.Unix()
	if more {
		next.Skip, next.After = true, items[len(items)-1].id
	} else {
		next.Skip, next.After, next.Init = false, "", false
	}
	return c.deltaResponse("users", more, next, values)
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
