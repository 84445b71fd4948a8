package graphsim

import (
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Eventual consistency: Graph answers some requests from a search index
// that trails the directory (IndexLag) and others from replicas that may
// not yet hold a new object (ReplicationLag, ReplicaWindow and
// ReplicaMissRate).

// searchIndex is what $filter lists and advanced queries read. It keeps,
// per user written within the last IndexLag, the states the index still
// shows (each with the time the next write replaced it); every other user
// is indexed as it is. Versions older than the lag are dropped on the next
// read or write, so memory is bounded by the writes of one lag window.
//
// Source: "Advanced query capabilities on Microsoft Entra ID objects"
// (learn.microsoft.com/graph/aad-advanced-queries): advanced queries and
// $filter lists are served by an index that is eventually consistent with
// the directory.
type searchIndex = lagIndex[user]

// lagIndex is a lagging index of objects of type T (users, groups): per
// object written within the lag, the states it still shows.
type lagIndex[T any] struct {
	mu      sync.Mutex
	pending map[string][]indexVersion[T] // object ID -> older states, oldest first
	queue   []indexRef                   // every version in write order, for pruning
	// gen counts changes of pending; views share one read-only copy of
	// pending per generation (cached), instead of copying it per request.
	gen    uint64
	cached *indexCopy[T]
}

// indexCopy is a read-only copy of the pending versions, IDs sorted.
type indexCopy[T any] struct {
	gen     uint64
	pending map[string][]indexVersion[T]
	extra   []string
}

// indexVersion is a state of an object the index may still show: snap is
// the object as it was until the write at until (nil: it did not exist).
type indexVersion[T any] struct {
	snap  *T
	until time.Time
}

// indexedAt is the state versions (an object's, oldest first) show at
// cutoff: the first one that ended after it; found false when every one
// ended before (the index shows the object as it is).
func indexedAt[T any](versions []indexVersion[T], cutoff time.Time) (snap *T, found bool) {
	for _, ver := range versions {
		if ver.until.After(cutoff) {
			return ver.snap, true
		}
	}
	return nil, false
}

type indexRef struct {
	id    string
	until time.Time
}

// indexBefore records u's state just before a write; the caller holds t.mu
// for writing.
func (t *Tenant) indexBefore(u *user) {
	lag := t.s.currentRealism().IndexLag
	var snap *user
	if lag > 0 { // no copies while the index is off
		snap = u.snapshot()
	}
	t.indexRecord(u.id, snap, lag)
}

// indexCreated records that the user id did not exist before now.
func (t *Tenant) indexCreated(id string) { t.indexRecord(id, nil, t.s.currentRealism().IndexLag) }

func (t *Tenant) indexRecord(id string, snap *user, lag time.Duration) {
	t.idx.record(id, snap, lag, t.s.now)
}

// record adds the state snap (nil: none) that the object id had until now,
// dropping what the index caught up with; without lag the index is
// switched off and shows the directory as it is.
func (x *lagIndex[T]) record(id string, snap *T, lag time.Duration, clock func() time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if lag <= 0 {
		x.settleLocked()
		return
	}
	now := clock()
	x.prune(now.Add(-lag))
	if x.pending == nil {
		x.pending = map[string][]indexVersion[T]{}
	}
	x.pending[id] = append(x.pending[id], indexVersion[T]{snap: snap, until: now})
	x.queue = append(x.queue, indexRef{id: id, until: now})
	x.gen++
}

// settle lets the index catch up with every write.
func (x *lagIndex[T]) settle() {
	x.mu.Lock()
	x.settleLocked()
	x.mu.Unlock()
}

func (x *lagIndex[T]) settleLocked() {
	x.pending, x.queue = nil, nil
	x.gen++
}

// prune drops the versions that ended before cutoff: the index has caught
// up with them. The caller holds x.mu.
func (x *lagIndex[T]) prune(cutoff time.Time) {
	n := 0
	for n < len(x.queue) && !x.queue[n].until.After(cutoff) {
		id := x.queue[n].id
		vs := x.pending[id]
		k := 0
		for k < len(vs) && !vs[k].until.After(cutoff) {
			k++
		}
		if k == len(vs) {
			delete(x.pending, id)
		} else if k > 0 {
			x.pending[id] = slices.Delete(vs, 0, k)
		}
		n++
	}
	if n > 0 {
		x.gen++
	}
	switch {
	case n == len(x.queue):
		x.queue = nil
	case n > 0:
		// Reslicing, not shifting: the next growth of the queue copies only
		// what is still pending.
		x.queue = x.queue[n:]
	}
}

// SettleIndexes lets every tenant's search index catch up with all writes
// at once, as if IndexLag had passed: Start does it after seeding, and
// tests on a real clock can do it instead of waiting.
func (s *Server) SettleIndexes() {
	for _, t := range s.tenants {
		t.idx.settle()
		t.settleGroups()
	}
}

// snapshot copies what listing and filtering read of a user; values are
// copied too, so later writes cannot reach into the index's copy.
func (u *user) snapshot() *user {
	cp := &user{id: u.id, manager: u.manager, created: u.created, visibleAt: u.visibleAt,
		bornAt: u.bornAt, deletedAt: u.deletedAt, deletedSeq: u.deletedSeq, managerSeq: u.managerSeq, props: make(map[string]any, len(u.props))}
	for k, v := range u.props {
		cp.props[k] = copyValue(v)
	}
	cp.seqs = maps.Clone(u.seqs)
	return cp
}

func copyValue(v any) any {
	switch x := v.(type) {
	case []string:
		return slices.Clone(x)
	case map[string]any:
		return maps.Clone(x)
	case []map[string]any:
		out := make([]map[string]any, len(x))
		for i, m := range x {
			out[i] = maps.Clone(m)
		}
		return out
	}
	return v
}

// indexView is the directory as the index shows it at one instant; the
// caller holds t.mu (reading suffices) for as long as it uses the view.
type indexView struct {
	t       *Tenant
	lagged  bool
	pending map[string][]indexVersion[user] // a read-only copy made under idx.mu: safe to read after
	cutoff  time.Time
	extra   []string // IDs with pending versions, sorted
}

// view opens the index as of now. Without lag it is the directory itself.
func (t *Tenant) view(now time.Time, lag time.Duration) *indexView {
	v := &indexView{t: t}
	v.pending, v.extra, v.cutoff = t.idx.open(now, lag)
	v.lagged = v.pending != nil
	return v
}

// open reads the index as of now: the pending versions (a read-only copy,
// safe to read after x.mu; nil when the index shows the directory as it
// is), their IDs sorted, and the cutoff before which versions have ended.
func (x *lagIndex[T]) open(now time.Time, lag time.Duration) (pending map[string][]indexVersion[T], extra []string, cutoff time.Time) {
	if lag <= 0 {
		return nil, nil, time.Time{}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cutoff = now.Add(-lag)
	x.prune(cutoff)
	if len(x.pending) == 0 {
		return nil, nil, cutoff
	}
	if x.cached == nil || x.cached.gen != x.gen {
		cp := &indexCopy[T]{gen: x.gen, pending: make(map[string][]indexVersion[T], len(x.pending))}
		for id, vs := range x.pending {
			cp.pending[id] = slices.Clone(vs)
			cp.extra = append(cp.extra, id)
		}
		slices.Sort(cp.extra)
		x.cached = cp
	}
	return x.cached.pending, x.cached.extra, cutoff
}

// get is the indexed state of a user (live or soft-deleted), nil when the
// index does not know it.
func (v *indexView) get(id string) *user {
	if v.lagged {
		if snap, found := indexedAt(v.pending[id], v.cutoff); found {
			return snap
		}
	}
	if u := v.t.users[id]; u != nil {
		return u
	}
	return v.t.deleted[id]
}

// each calls fn, in ID order, for every indexed user in base (sorted IDs
// of the live or deleted set) or with pending versions, after the ID
// after, for which keep holds; fn returns false to stop.
func (v *indexView) each(base []string, after string, keep func(*user) bool, fn func(*user) bool) {
	i, j := 0, 0
	if after != "" {
		i, _ = slices.BinarySearch(base, after)
		if i < len(base) && base[i] == after {
			i++
		}
		j, _ = slices.BinarySearch(v.extra, after)
		if j < len(v.extra) && v.extra[j] == after {
			j++
		}
	}
	for i < len(base) || j < len(v.extra) {
		var id string
		switch {
		case j >= len(v.extra) || (i < len(base) && base[i] < v.extra[j]):
			id = base[i]
			i++
		case i >= len(base) || v.extra[j] < base[i]:
			id = v.extra[j]
			j++
		default: // the same ID in both
			id = base[i]
			i++
			j++
		}
		u := v.get(id)
		if u == nil || !keep(u) {
			continue
		}
		if !fn(u) {
			return
		}
	}
}

func isLive(u *user) bool    { return u.deletedAt.IsZero() }
func isDeleted(u *user) bool { return !u.deletedAt.IsZero() }

// eachUser walks the live users as the request's source shows them.
func (v *indexView) eachUser(after string, fn func(*user) bool) {
	v.each(v.t.liveIDs(), after, isLive, fn)
}

// countUsers counts the live users passing fq in the view.
func (v *indexView) countUsers(fq *filterQuery) int {
	n := 0
	v.eachMatch(fq, "", func(*user) bool {
		n++
		return true
	})
	return n
}

// eventual reports whether a list request reads the search index: it has
// a $filter or is an advanced query. Source: "Advanced query capabilities
// on Microsoft Entra ID objects" — sending the advanced parameters makes
// even default queries eventually consistent.
func (c *call) eventual() bool {
	return c.query.Get("$filter") != "" || strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual")
}

// listView is the user source of a list request: the lagging index for
// $filter and advanced queries, the directory otherwise.
func (c *call) listView() *indexView {
	if !c.eventual() {
		return c.t.view(c.now, 0)
	}
	return c.t.view(c.now, c.s.currentRealism().IndexLag)
}

// born marks u as created over Graph now, which starts its replica window.
func (c *call) born(u *user) { u.bornAt = c.now }

// unreplicated reports whether a request naming u (by ID or UPN, in its
// path or body) lands on a replica that does not hold it yet: always
// within ReplicationLag, then with ReplicaMissRate, drawn per request from
// the seeded sequence, until ReplicaWindow has passed since its creation.
// Sources: msgraph-sdk-go#221 and microsoft-graph-docs#15839 (404 after an
// earlier success), "Create invitation" (reads right after can 404).
func (c *call) unreplicated(u *user) bool {
	if c.now.Before(u.visibleAt) {
		return true
	}
	rz := c.s.currentRealism()
	if rz.ReplicaMissRate <= 0 || rz.ReplicaWindow <= 0 || u.bornAt.IsZero() || !c.now.Before(u.bornAt.Add(rz.ReplicaWindow)) {
		return false
	}
	c.s.rmu.Lock()
	miss := c.s.rng.Float64() < rz.ReplicaMissRate
	c.s.rmu.Unlock()
	if miss {
		c.s.stats.replicaMiss(c.t.name)
	}
	return miss
}

// replicaMissError is the 404 of a request whose replica lacks the object
// it names: Request_ResourceNotFound, except that a PATCH answers half the
// time with Directory_ObjectNotFound, "Unable to read the company
// information from the directory.", as reported for a PATCH right after an
// invitation (microsoft-graph-docs-contrib#2465). Clients must go by the
// status, not the code.
func (c *call) replicaMissError(id string) *apiError {
	if c.method != http.MethodPatch {
		return notFound(id)
	}
	c.s.rmu.Lock()
	other := c.s.rng.IntN(2) == 0
	c.s.rmu.Unlock()
	if other {
		return errf(http.StatusNotFound, "Directory_ObjectNotFound", "Unable to read the company information from the directory.")
	}
	return notFound(id)
}

// shareApp replaces the tenant's own app by the one multi-tenant app of
// Options.SharedApp (registered with the first tenant), consented here with
// the default permissions, and points the tenant's credential files at the
// shared app.secret, app.cert.pem and app.key.pem.
func (s *Server) shareApp(t *Tenant) error {
	own := s.files[t.name]
	if s.shared == nil {
		s.shared = t.mainApp
		files := tenantFiles{}
		var err error
		if files.secret, err = writeFile(s.stateDir, "app.secret", []byte(s.shared.secret), 0o600); err != nil {
			return err
		}
		if files.cert, err = writeFile(s.stateDir, "app.cert.pem", s.shared.cert.certPEM, 0o644); err != nil {
			return err
		}
		if files.key, err = writeFile(s.stateDir, "app.key.pem", s.shared.cert.keyPEM, 0o600); err != nil {
			return err
		}
		s.files[""] = files
	} else {
		t.mu.Lock()
		delete(t.apps, t.mainApp.clientID)
		a := &app{clientID: s.shared.clientID, secret: s.shared.secret, cert: s.shared.cert, perms: maps.Clone(s.shared.perms)}
		t.apps[a.clientID] = a
		t.mainApp = a
		t.mu.Unlock()
	}
	// One app, one set of credential files: the per-tenant ones would only
	// mislead.
	for _, p := range []string{own.secret, own.cert, own.key} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
	s.files[t.name] = s.files[""]
	return nil
}

// drawTokenFault decides whether a token request fails transiently: 503
// mostly, 500 sometimes. Source: "Microsoft Entra authentication and
// authorization error codes" (learn.microsoft.com/entra/identity-platform/
// reference-error-codes): temporarily_unavailable means "the server is
// temporarily too busy to handle the request. Retry the request";
// AADSTS90033 (MsodsServiceUnavailable) and AADSTS50000
// (TokenIssuanceError) are the transient service failures behind it.
func (s *Server) drawTokenFault() int {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.realism.TokenFaultRate <= 0 {
		return 0
	}
	p := s.rng.Float64()
	if p >= s.realism.TokenFaultRate {
		return 0
	}
	if s.rng.IntN(4) == 0 {
		return http.StatusInternalServerError
	}
	return http.StatusServiceUnavailable
}

// tokenFault answers a token request with a transient AADSTS failure.
func (s *Server) tokenFault(w http.ResponseWriter, status int, t *Tenant, rid string) {
	s.stats.tokenFault(t.name)
	w.Header().Set("Retry-After", "1")
	if status == http.StatusInternalServerError {
		s.oauthError(w, status, "temporarily_unavailable", 50000,
			"There's an issue with the sign-in service. Please try again.", rid)
		return
	}
	s.oauthError(w, status, "temporarily_unavailable", 90033,
		"The Microsoft Online Directory Service (MSODS) isn't available. Please try again.", rid)
}
