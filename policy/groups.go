package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ctsync/ctsync/internal/directory"
)

// Group sync's values and defaults ([pair.groups]).
const (
	// GroupMembersManaged: ctsync adds and removes only the members it
	// added (the default); GroupMembersExact: the target group's members
	// are exactly the synced guests.
	GroupMembersManaged = "managed"
	GroupMembersExact   = "exact"
	// GroupDelete: the target group is deleted when its source group is
	// deleted or leaves scope (the default); GroupKeep: it stays, without
	// the members ctsync added, and is no longer updated.
	GroupDelete = "delete"
	GroupKeep   = "keep"
	// DefaultGroupDisplayName is the default display_name expression.
	DefaultGroupDisplayName = "[" + directory.PropDisplayName + "]"
)

// Graph's bounds on a group's displayName and description, in characters.
const (
	maxGroupDisplayName = 256
	maxGroupDescription = 1024
)

// groupTable is the source group attributes that group filters and
// expressions read, in the order messages list them: all strings (Graph's
// bounds on what a target group takes are maxGroupDisplayName and
// maxGroupDescription, checked on the values).
var groupTable = newPropTable([]prop{
	{name: directory.PropDisplayName, kind: kString},
	{name: directory.PropDescription, kind: kString},
	{name: directory.PropMailNickname, kind: kString},
}, unknownGroupAttr)

// unknownGroupAttr is the message for an attribute groups do not have, in
// an expression or a clause alike.
func unknownGroupAttr(t *propTable, name string, _ bool) string {
	return fmt.Sprintf("unknown group attribute %q%s: group filters and expressions read displayName, description or mailNickname", name, t.suggest(name))
}

// GroupRules is a pair's compiled group sync ([pair.groups]): which source
// groups are in scope, what their target group looks like, and how its
// members and its end are handled. It is immutable and safe for concurrent
// use; Pair.GroupSync returns it bound to the source tenant's name.
type GroupRules struct {
	names         []string        // as written, trimmed; object IDs lower case
	ids           map[string]bool // named object IDs
	displayNames  map[string]bool // named display names, lower case
	filters       []*filter
	inReasons     []string // inReasons[i]: filter i is the first that matched
	transitive    bool
	exact         bool
	deleteOnLeave bool
	displayName   *expr
	description   *expr // nil: the default text
	spec          groupsFingerprint
	source        string // the source tenant's name (default description)
	fingerprint   uint64
}

// groupsFingerprint is what GroupRules.Fingerprint hashes: the defaulted,
// normalized settings that decide which groups are in scope, what a target
// group looks like and who its members are.
type groupsFingerprint struct {
	Names       []string // sorted
	Filters     []FilterSpec
	Transitive  bool
	Members     string
	DisplayName string
	Description string
	// Source is the source tenant's name when the default description,
	// which holds it, is used; "" otherwise.
	Source string
}

// compileGroups checks a [pair.groups] section, applying its defaults to a
// copy, and reports every problem at its key ("groups.members",
// "groups.filter[0].clause[1].attribute", ...).
func compileGroups(s GroupsSpec, c *collector) *GroupRules {
	r := &GroupRules{ids: map[string]bool{}, displayNames: map[string]bool{}}
	if len(s.Names) == 0 && len(s.Filters) == 0 {
		c.add("groups", 0, "say which source groups to sync: names = [\"<display name or object ID>\", ...] and/or [[pair.groups.filter]]")
	}
	for i, n := range s.Names {
		key := fmt.Sprintf("groups.names[%d]", i)
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			c.add(key, 0, "empty name: give a group's display name or object ID")
		case guidRE.MatchString(n):
			n = strings.ToLower(n)
			if r.ids[n] {
				c.add(key, 0, "group %s is listed twice", n)
				continue
			}
			r.ids[n] = true
			r.names = append(r.names, n)
		case utf8.RuneCountInString(n) > maxGroupDisplayName:
			c.add(key, 0, "longer than %d characters, the most a group's display name holds", maxGroupDisplayName)
		default:
			low := strings.ToLower(n)
			if r.displayNames[low] {
				c.add(key, 0, "group %s is listed twice (display names match in any case)", quote(n))
				continue
			}
			r.displayNames[low] = true
			r.names = append(r.names, n)
		}
	}
	r.filters = compileFilters(s.Filters, "groups", compileGroupClause, c)
	for i := range r.filters {
		if len(r.filters) == 1 {
			r.inReasons = append(r.inReasons, "the group filter matched")
		} else {
			r.inReasons = append(r.inReasons, fmt.Sprintf("group filter[%d] matched", i))
		}
	}
	r.transitive = s.Transitive

	members := strings.ToLower(strings.TrimSpace(s.Members))
	switch members {
	case "", GroupMembersManaged:
		members = GroupMembersManaged
	case GroupMembersExact:
		r.exact = true
	default:
		c.add("groups.members", 0, "unknown members mode %q: use \"managed\" (ctsync adds and removes only the members it added; the default) or \"exact\" (the target group holds exactly the synced guests; any other member is removed)", s.Members)
	}
	switch strings.ToLower(strings.TrimSpace(s.OutOfScope)) {
	case "", GroupDelete:
		r.deleteOnLeave = true
	case GroupKeep:
	default:
		c.add("groups.out_of_scope", 0, "unknown action %q: use \"delete\" (delete the target group; the default) or \"keep\" (leave it in place without the members ctsync added, no longer updated)", s.OutOfScope)
	}

	dn := s.DisplayName
	if strings.TrimSpace(dn) == "" {
		dn = DefaultGroupDisplayName
	}
	r.displayName = compileGroupExpr(dn, "groups.display_name", directory.PropDisplayName, c)
	if strings.TrimSpace(s.Description) != "" {
		r.description = compileGroupExpr(s.Description, "groups.description", directory.PropDescription, c)
	}

	names := slices.Clone(r.names)
	slices.Sort(names)
	r.spec = groupsFingerprint{
		Names: names, Filters: s.Filters, Transitive: s.Transitive, Members: members,
		DisplayName: strings.TrimSpace(dn), Description: strings.TrimSpace(s.Description),
	}
	r.fingerprint = r.computeFingerprint()
	return r
}

// compileGroupClause checks one group scoping clause: the user scope's
// clause on the group's attributes, all of them strings.
func compileGroupClause(cs ClauseSpec, key string, c *collector) *clause {
	if op, ok := parseOperator(cs.Operator); ok && (op == OpIsTrue || op == OpIsFalse) {
		clauseAttr(cs, key, groupTable, c)
		names := make([]string, len(groupTable.props))
		for i, p := range groupTable.props {
			names[i] = p.name
		}
		c.add(key+".operator", 0, "%s needs a boolean attribute; group attributes (%s) are strings (use EQUALS)", op, strings.Join(names, ", "))
		return nil
	}
	return compileClauseIn(cs, key, groupTable, c)
}

// compileGroupExpr checks a display_name or description expression, whose
// attributes are the group's.
func compileGroupExpr(src, key, target string, c *collector) *expr {
	e, err := parseExprIn(src, groupTable)
	if err != nil {
		c.add(key, column(src, err.pos), "expression for %s: %s", target, err.msg)
		return nil
	}
	return e
}

// groupAttrs is a source group as the compiled clauses and expressions
// read it.
type groupAttrs map[string]any

func (a groupAttrs) Attr(name string) (any, bool) {
	v, ok := a[name]
	return v, ok
}

// InScope decides whether the source group g is in the pair's group scope
// and says why. g.Attrs must hold displayName, description and
// mailNickname (a full read, or a delta's objects merged with what was
// known). A group deleted at the source, a group ctsync created (its
// mailNickname is a group stamp: a mesh never syncs a synced group on) and
// a group that is not a security group (securityEnabled read as false) are
// never in scope; otherwise a group is in scope when Names names it (by
// object ID, or by display name in any case) or a filter matches it.
func (r *GroupRules) InScope(g directory.Group) (bool, string) {
	if g.Removed != directory.NotRemoved {
		return false, "deleted at the source"
	}
	if nick := g.Str(directory.PropMailNickname); nick != "" {
		if _, _, ok := directory.ParseGroupStamp(nick); ok {
			return false, fmt.Sprintf("created by ctsync (mailNickname %s): synced groups are never synced on", quote(nick))
		}
	}
	if v, ok := g.Attrs["securityEnabled"].(bool); ok && !v {
		return false, "not a security group (securityEnabled is false)"
	}
	if r.ids[strings.ToLower(g.ID)] {
		return true, "named in groups.names by object ID"
	}
	if dn := g.Str(directory.PropDisplayName); dn != "" && r.displayNames[strings.ToLower(dn)] {
		return true, fmt.Sprintf("named in groups.names by display name %s", quote(dn))
	}
	a := groupAttrs(g.Attrs)
	var whys []string
	for i, f := range r.filters {
		ok, why := f.eval(a)
		if ok {
			return true, r.inReasons[i]
		}
		whys = append(whys, why)
	}
	var b strings.Builder
	switch {
	case len(r.names) > 0 && len(whys) == 0:
		return false, "not named in groups.names"
	case len(r.names) > 0:
		b.WriteString("not named in groups.names and ")
	}
	if len(whys) == 1 {
		b.WriteString("the group filter did not match: ")
		b.WriteString(whys[0])
		return false, b.String()
	}
	b.WriteString("no group filter matched: ")
	for i, w := range whys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "filter[%d]: %s", i, w)
	}
	return false, b.String()
}

// Names are the groups named in groups.names, in the order written (blanks
// trimmed, duplicates dropped): object IDs in lower case, display names as
// written. An entry in the form of a GUID is an object ID; the worker
// resolves the others to the IDs of the groups of that display name.
func (r *GroupRules) Names() []string { return slices.Clone(r.names) }

// Target returns the target group's displayName and description for the
// source group g, from the display_name and description expressions (or
// their defaults). An expression that fails for this group, an empty
// displayName or a value longer than Graph takes (256 characters for the
// displayName, 1,024 for the description) gives an error wrapping an
// *EvalError: park the group, not the pair.
func (r *GroupRules) Target(g directory.Group) (displayName, description string, err error) {
	a := groupAttrs(g.Attrs)
	displayName, err = evalGroupExpr(r.displayName, a, directory.PropDisplayName, "groups.display_name")
	if err != nil {
		return "", "", err
	}
	if strings.TrimSpace(displayName) == "" {
		return "", "", &EvalError{Target: directory.PropDisplayName, Key: "groups.display_name",
			Err: fmt.Errorf("empty: a group needs a displayName (the source group has none, or the expression gave nothing)")}
	}
	if n := utf8.RuneCountInString(displayName); n > maxGroupDisplayName {
		return "", "", &EvalError{Target: directory.PropDisplayName, Key: "groups.display_name",
			Err: fmt.Errorf("%d characters, more than the %d a group's displayName holds (shorten it with Left)", n, maxGroupDisplayName)}
	}
	if r.description == nil {
		return displayName, r.defaultDescription(g.ID), nil
	}
	description, err = evalGroupExpr(r.description, a, directory.PropDescription, "groups.description")
	if err != nil {
		return "", "", err
	}
	if n := utf8.RuneCountInString(description); n > maxGroupDescription {
		return "", "", &EvalError{Target: directory.PropDescription, Key: "groups.description",
			Err: fmt.Errorf("%d characters, more than the %d a group's description holds (shorten it with Left)", n, maxGroupDescription)}
	}
	return displayName, description, nil
}

// defaultDescription is the description when none is configured.
func (r *GroupRules) defaultDescription(groupID string) string {
	if r.source == "" {
		return fmt.Sprintf("Synced by ctsync (group %s)", groupID)
	}
	return fmt.Sprintf("Synced by ctsync from tenant %s (group %s)", r.source, groupID)
}

func evalGroupExpr(e *expr, a groupAttrs, target, key string) (string, error) {
	v, err := e.eval(a)
	if err == nil {
		v, err = coerce(v, kString)
	}
	if err != nil {
		return "", &EvalError{Target: target, Key: key, Err: err}
	}
	s, _ := v.(string)
	return s, nil
}

// Transitive says whether the members of nested source groups become
// members of the (flat) target group.
func (r *GroupRules) Transitive() bool { return r.transitive }

// Exact says whether the target group's members are exactly the synced
// guests (members = "exact"); otherwise ctsync adds and removes only the
// members it added.
func (r *GroupRules) Exact() bool { return r.exact }

// DeleteOnLeave says whether the target group is deleted when its source
// group is deleted or leaves scope (out_of_scope = "delete"); otherwise it
// is kept, without the members ctsync added, and no longer updated.
func (r *GroupRules) DeleteOnLeave() bool { return r.deleteOnLeave }

// Fingerprint identifies what decides which groups are in scope, what a
// target group looks like and who its members are (names, filters,
// transitive, members, display_name, description, and the source tenant's
// name when the default description holds it), stable across runs: when
// it changes, every group must be looked at again. out_of_scope is not in
// it, as the user lifecycle is not in Pair.Fingerprint.
func (r *GroupRules) Fingerprint() uint64 { return r.fingerprint }

func (r *GroupRules) computeFingerprint() uint64 {
	s := r.spec
	if r.description == nil {
		s.Source = r.source
	}
	b, _ := json.Marshal(s)
	return Hash(map[string]any{"groups": string(b)})
}

// bind returns a copy of r for the source tenant named source.
func (r *GroupRules) bind(source string) *GroupRules {
	b := *r
	b.source = source
	b.fingerprint = b.computeFingerprint()
	return &b
}
