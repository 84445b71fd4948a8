package policy

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Decision is a scope decision and the reason an admin reads in the plan
// and the provisioning log.
type Decision struct {
	In bool
	// Reason says why: for users in scope, how they got in ("all members;
	// filter[1] matched"); for the others, the first rule that kept them
	// out ("department 'Sales' does not match REGEX '^Eng'").
	Reason string
}

// String is "in scope: reason" or "out of scope: reason".
func (d Decision) String() string {
	if d.In {
		return "in scope: " + d.Reason
	}
	return "out of scope: " + d.Reason
}

// scope is a compiled ScopeSpec.
type scope struct {
	all         bool
	groups      []string
	transitive  bool
	filters     []*filter
	excludeUPN  []string // lower-cased glob patterns
	excludeMail []string
	// inReasons[i] is the reason when filter i is the first that matches
	// (precomputed so an in-scope user costs no allocation).
	inReasons  []string
	inNoFilter string
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func compileScope(s ScopeSpec, c *collector) *scope {
	sc := &scope{all: s.All, transitive: s.Transitive}
	switch {
	case s.All && len(s.Groups) > 0:
		c.add("scope.groups", 0, "all_members and groups exclude each other: choose one")
	case !s.All && len(s.Groups) == 0:
		c.add("scope", 0, "say who is in scope: all_members = true, or groups = [\"<group object ID>\", ...]")
	}
	if s.Transitive && len(s.Groups) == 0 {
		c.add("scope.transitive", 0, "transitive only applies to groups")
	}
	seen := map[string]bool{}
	for i, g := range s.Groups {
		g = strings.ToLower(strings.TrimSpace(g))
		key := fmt.Sprintf("scope.groups[%d]", i)
		switch {
		case !guidRE.MatchString(g):
			c.add(key, 0, "%q is not a group object ID (a GUID)", s.Groups[i])
		case seen[g]:
			c.add(key, 0, "group %s is listed twice", g)
		default:
			seen[g] = true
			sc.groups = append(sc.groups, g)
		}
	}
	sc.filters = compileFilters(s.Filters, "scope", compileClause, c)
	sc.excludeUPN = compileGlobs(s.ExcludeUPN, "scope.exclude_upn", c)
	sc.excludeMail = compileGlobs(s.ExcludeMail, "scope.exclude_mail", c)

	base := "all members"
	if !s.All {
		base = "member of a scoped group"
		if s.Transitive {
			base += " (nested groups included)"
		}
	}
	sc.inNoFilter = base
	for i := range sc.filters {
		if len(sc.filters) == 1 {
			sc.inReasons = append(sc.inReasons, base+"; the scoping filter matched")
		} else {
			sc.inReasons = append(sc.inReasons, fmt.Sprintf("%s; filter[%d] matched", base, i))
		}
	}
	return sc
}

func compileGlobs(pats []string, key string, c *collector) []string {
	var out []string
	for i, p := range pats {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			c.add(fmt.Sprintf("%s[%d]", key, i), 0, "empty pattern")
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			c.add(fmt.Sprintf("%s[%d]", key, i), 0, "bad pattern %q: %v (use * and ? wildcards, [a-z] classes)", pats[i], err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// External reports whether a source user is a guest or external user of
// its tenant, never in any scope: userType Guest, creationType
// Invitation, or a UPN with #EXT#. Syncing those would loop guests back.
func External(u Attributes) (bool, string) {
	if v, _ := u.Attr(propUserType); v != nil {
		if s, ok := v.(string); ok && strings.EqualFold(s, "Guest") {
			return true, "a guest of the source tenant (userType Guest)"
		}
	}
	if v, _ := u.Attr(propCreationType); v != nil {
		if s, ok := v.(string); ok && strings.EqualFold(s, "Invitation") {
			return true, "an external user of the source tenant (creationType Invitation)"
		}
	}
	if v, _ := u.Attr(propUPN); v != nil {
		if s, ok := v.(string); ok && strings.Contains(strings.ToUpper(s), "#EXT#") {
			return true, "an external user of the source tenant (UPN contains #EXT#)"
		}
	}
	return false, ""
}

// decide runs the scope rules in order: external users, exclusions, groups,
// filters.
func (sc *scope) decide(u Attributes, memberOf func(groupID string) bool) Decision {
	if ext, why := External(u); ext {
		return Decision{Reason: why}
	}
	if why, ok := excluded(u, propUPN, sc.excludeUPN, "exclude_upn"); ok {
		return Decision{Reason: why}
	}
	if why, ok := excluded(u, propMail, sc.excludeMail, "exclude_mail"); ok {
		return Decision{Reason: why}
	}
	if !sc.all {
		member := false
		if memberOf != nil {
			for _, g := range sc.groups {
				if memberOf(g) {
					member = true
					break
				}
			}
		}
		if !member {
			if sc.transitive {
				return Decision{Reason: "not a member of any scoped group, directly or through nested groups"}
			}
			return Decision{Reason: "not a direct member of any scoped group (set transitive = true to include nested groups)"}
		}
	}
	if len(sc.filters) == 0 {
		return Decision{In: true, Reason: sc.inNoFilter}
	}
	var whys []string
	for i, f := range sc.filters {
		ok, why := f.eval(u)
		if ok {
			return Decision{In: true, Reason: sc.inReasons[i]}
		}
		whys = append(whys, why)
	}
	if len(whys) == 1 {
		return Decision{Reason: whys[0]}
	}
	var b strings.Builder
	b.WriteString("no scoping filter matched: ")
	for i, w := range whys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "filter[%d]: %s", i, w)
	}
	return Decision{Reason: b.String()}
}

func excluded(u Attributes, attr string, pats []string, key string) (string, bool) {
	if len(pats) == 0 {
		return "", false
	}
	v, _ := u.Attr(attr)
	s, ok := v.(string)
	if !ok || s == "" {
		return "", false
	}
	low := strings.ToLower(s)
	for _, p := range pats {
		if m, _ := path.Match(p, low); m {
			return fmt.Sprintf("%s %s matches %s pattern %s", attr, quote(s), key, quote(p)), true
		}
	}
	return "", false
}
