package graphsim

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// eqIndex makes the lookups ctsync does cheap: `eq` (and `in`) filters on
// mail, userPrincipalName, otherMails, id and the extension attributes,
// `ne null` on an extension attribute, and the address checks of writes and
// invitations. It indexes the live users as they are now (the directory,
// not the lagging search index) and is only ever a planner: a filter query
// takes the candidates it names and evaluates the full filter on each of
// them, exactly as a scan would, so a result never depends on the index
// being clever, only on it naming a superset of the matches.
//
// The lagging search index (IndexLag, consistency.go) shows some users in
// an older state: the users written within the lag window, whose IDs the
// view lists in extra. Every other user is shown as it is now, which this
// index answers for. So a lagged query reads the candidates of this index
// plus every ID of the lag window (their indexed states, from indexView.get,
// are evaluated in full like any candidate): bounded by the writes of one
// window, which the view already copies per request.
//
// Keys follow the comparison they stand for: filter keys are
// strings.ToLower of the value, as cmpNode compares; address keys are
// foldKey of the value, as holdsAddress compares with strings.EqualFold.
// The caller holds t.mu (for writing when it changes the index).
type eqIndex struct {
	by map[string]*postings // index name -> key -> live user IDs
}

// postings holds the IDs per key: most keys (an address, a stamp) belong to
// one user, kept without a slice of their own.
type postings struct {
	one  map[string]string   // key -> its only ID
	many map[string][]string // key -> its IDs (two or more, no order)
}

// Index names besides the property names (mail, userPrincipalName,
// otherMails) and extensionAttributeN.
const (
	ixAddr = "\x00addr" // foldKey of mail, userPrincipalName, otherMails, smtp proxyAddresses
	ixSet  = "\x00set/" // + extensionAttributeN: users whose value is not null (key "")
)

// ixScalars are the string properties indexed by their lower-cased value.
var ixScalars = map[string]bool{"mail": true, "userPrincipalName": true}

type ixEntry struct{ name, key string }

// entries lists u's index entries, each once.
func (u *user) ixEntries() []ixEntry {
	out := make([]ixEntry, 0, 8)
	add := func(name, key string) {
		e := ixEntry{name, key}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for name := range ixScalars {
		if s, ok := u.props[name].(string); ok {
			add(name, strings.ToLower(s))
		}
	}
	if l, ok := u.props["otherMails"].([]string); ok {
		for _, s := range l {
			add("otherMails", strings.ToLower(s))
		}
	}
	if m, ok := u.props["onPremisesExtensionAttributes"].(map[string]any); ok {
		for n, v := range m {
			if s, ok := v.(string); ok {
				add(n, strings.ToLower(s))
			}
			// cmpNode's null check: nil and "" are null.
			if s, ok := v.(string); v != nil && (!ok || s != "") {
				add(ixSet+n, "")
			}
		}
	}
	for _, s := range heldAddresses(u) {
		add(ixAddr, foldKey(s))
	}
	if s, ok := u.props["userPrincipalName"].(string); ok {
		add(ixAddr, foldKey(s))
	}
	return out
}

func (x *eqIndex) add(u *user) {
	if x.by == nil {
		x.by = map[string]*postings{}
	}
	for _, e := range u.ixEntries() {
		p := x.by[e.name]
		if p == nil {
			p = &postings{one: map[string]string{}, many: map[string][]string{}}
			x.by[e.name] = p
		}
		if ids, ok := p.many[e.key]; ok {
			p.many[e.key] = append(ids, u.id)
		} else if o, ok := p.one[e.key]; ok {
			delete(p.one, e.key)
			p.many[e.key] = []string{o, u.id}
		} else {
			p.one[e.key] = u.id
		}
	}
}

func (x *eqIndex) remove(u *user) {
	for _, e := range u.ixEntries() {
		p := x.by[e.name]
		if p == nil {
			continue
		}
		if p.one[e.key] == u.id {
			delete(p.one, e.key)
			continue
		}
		ids, ok := p.many[e.key]
		if !ok {
			continue
		}
		if i := slices.Index(ids, u.id); i >= 0 {
			ids = slices.Delete(ids, i, i+1)
		}
		switch len(ids) {
		case 0:
			delete(p.many, e.key)
		case 1:
			delete(p.many, e.key)
			p.one[e.key] = ids[0]
		default:
			p.many[e.key] = ids
		}
	}
}

// lookup is the posting list of one key; callers must not modify it.
func (x *eqIndex) lookup(name, key string) []string {
	p := x.by[name]
	if p == nil {
		return nil
	}
	if id, ok := p.one[key]; ok {
		return []string{id}
	}
	return p.many[key]
}

// foldKey is a key equal for two strings exactly when strings.EqualFold
// holds (EqualFold compares rune by rune under simple folding; invalid
// bytes become U+FFFD in both): every rune becomes one representative of
// its simple-folding orbit, the lower-case ASCII letter for the orbits
// holding one (k, K and the Kelvin sign; s, S and ſ), else the smallest
// rune. So an ASCII key is strings.ToLower, which allocates nothing for a
// lower-case address.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < utf8.RuneSelf && 'a' <= f && f <= 'z' {
				return f
			}
			if f < m {
				m = f
			}
		}
		if 'A' <= m && m <= 'Z' {
			return m + 'a' - 'A'
		}
		return m
	}, s)
}

// candidates names the live users (by their current state) that may
// satisfy n; ok is false when n cannot be planned from the index (the
// caller scans). coll is the collection a lambda body ranges over ("" at
// the top). The result may hold duplicates and shares posting lists: read
// only.
func (t *Tenant) candidates(n fnode, coll string) (ids []string, ok bool) {
	switch x := n.(type) {
	case cmpNode:
		return t.cmpCandidates(x.o, x.op, x.lit, coll)
	case inNode:
		var out []string
		for _, l := range x.lits {
			c, ok := t.cmpCandidates(x.o, "eq", l, coll)
			if !ok {
				return nil, false
			}
			out = append(out, c...)
		}
		return out, true
	case anyNode:
		// any(x: body) holds only if body holds for some element: the
		// body's candidates (its range variable naming otherMails) cover it.
		if x.body == nil || coll != "" || x.o.prop.name != "otherMails" {
			return nil, false
		}
		return t.candidates(x.body, x.o.prop.name)
	case andNode:
		l, lok := t.candidates(x.l, coll)
		r, rok := t.candidates(x.r, coll)
		switch {
		case lok && rok:
			if len(r) < len(l) {
				return r, true
			}
			return l, true
		case lok:
			return l, true
		case rok:
			return r, true
		}
	case orNode:
		l, lok := t.candidates(x.l, coll)
		r, rok := t.candidates(x.r, coll)
		if lok && rok {
			return append(slices.Clip(l), r...), true
		}
	}
	return nil, false
}

func (t *Tenant) cmpCandidates(o operand, op string, lit literal, coll string) ([]string, bool) {
	if o.count {
		return nil, false
	}
	var name string
	switch {
	case o.rvar:
		if coll != "otherMails" || o.member != "" {
			return nil, false
		}
		name = coll
	case o.prop.kind == kExt:
		name = o.ext
	default:
		name = o.prop.name
	}
	if lit.null {
		// "ne null" on an extension attribute: the stamped users.
		if op == "ne" && !o.rvar && o.prop.kind == kExt {
			return t.ix.lookup(ixSet+name, ""), true
		}
		return nil, false
	}
	if op != "eq" || !lit.isStr {
		return nil, false
	}
	key := strings.ToLower(lit.str)
	switch {
	case name == "id" && !o.rvar:
		// Object IDs are lower-case GUIDs (newID; id is never writable),
		// so only the lower-cased literal can be one.
		return []string{key}, true
	case o.rvar || o.prop.kind == kExt || ixScalars[name]:
		return t.ix.lookup(name, key), true
	}
	return nil, false
}

// eachMatch calls fn, in ID order, for every live user of the view after
// the ID after that passes fq; fn returns false to stop. It reads the
// index's candidates when the filter can be planned and scans otherwise.
func (v *indexView) eachMatch(fq *filterQuery, after string, fn func(*user) bool) {
	if fq != nil {
		if cand, ok := v.t.candidates(fq.root, ""); ok {
			ids := make([]string, 0, len(cand)+len(v.extra))
			ids = append(append(ids, cand...), v.extra...)
			slices.Sort(ids)
			ids = slices.Compact(ids)
			i := 0
			if after != "" {
				i, _ = slices.BinarySearch(ids, after)
				if i < len(ids) && ids[i] == after {
					i++
				}
			}
			for _, id := range ids[i:] {
				u := v.get(id)
				if u == nil || !isLive(u) || !fq.matches(u) {
					continue
				}
				if !fn(u) {
					return
				}
			}
			return
		}
	}
	v.eachUser(after, func(u *user) bool {
		if !fq.matches(u) {
			return true
		}
		return fn(u)
	})
}

// addressHolders lists, in ID order, the live users other than self that
// may hold one of addrs (holdsAddress decides); ok is false when the index
// cannot answer (an empty address, which a user without mail "holds").
func (t *Tenant) addressHolders(addrs []string, self *user) ([]string, bool) {
	var ids []string
	for _, a := range addrs {
		if a == "" {
			return nil, false
		}
		for _, id := range t.ix.lookup(ixAddr, foldKey(a)) {
			if self == nil || id != self.id {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), true
}
