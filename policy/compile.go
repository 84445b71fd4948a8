package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ExistingGuestPolicy is what to do when the target already holds a guest
// with the source user's mail that ctsync did not create.
type ExistingGuestPolicy string

// Existing-guest policies.
const (
	// AdoptExisting stamps the guest and manages it from then on.
	AdoptExisting ExistingGuestPolicy = "adopt"
	// SkipExisting leaves the guest alone and reports it (the default).
	SkipExisting ExistingGuestPolicy = "skip"
	// FailExisting stops the user with an error an admin must resolve.
	FailExisting ExistingGuestPolicy = "fail"
)

// Pair is a pair's compiled policy: checked, with defaults applied,
// immutable and safe for concurrent use.
type Pair struct {
	name          string
	userType      string
	convert       bool
	scope         *scope
	mappings      []*mapping
	lifecycle     map[Event]Action
	threshold     int
	existingGuest ExistingGuestPolicy
	sourceProps   []string
	fingerprint   uint64
	groups        *GroupRules // nil: no [pair.groups]
}

// Compile applies the defaults to a copy of spec (see SetDefaults) and
// checks everything: scope (groups, operators, regular expressions,
// patterns), mappings (target properties writable on a guest, source
// attributes known, expressions parsed with their functions' arity and
// constant arguments), lifecycle actions, the threshold, the user type,
// the existing-guest policy and, when given, the group sync of
// [pair.groups] (see GroupSync). It reports every problem, as Errors, not just
// the first.
func Compile(pairName string, spec PairSpec) (*Pair, error) {
	s := cloneSpec(spec)
	s.SetDefaults()
	c := &collector{pair: pairName}
	p := &Pair{name: pairName}

	switch ut := strings.TrimSpace(s.UserType); {
	case strings.EqualFold(ut, "Member"):
		p.userType = "Member"
	case strings.EqualFold(ut, "Guest"):
		p.userType = "Guest"
	default:
		c.add("user_type", 0, "unknown user type %q: use \"Member\" (external member, Entra's default) or \"Guest\"", s.UserType)
	}
	p.convert = s.ConvertUserType

	switch eg := ExistingGuestPolicy(strings.ToLower(strings.TrimSpace(s.ExistingGuest))); eg {
	case AdoptExisting, SkipExisting, FailExisting:
		p.existingGuest = eg
	default:
		c.add("existing_guest", 0, "unknown policy %q: use \"adopt\", \"skip\" (report and leave alone) or \"fail\"", s.ExistingGuest)
	}

	if p.threshold = *s.DeletionThreshold; p.threshold < 0 {
		c.add("deletion_threshold", 0, "must be 0 (no threshold) or more, got %d", p.threshold)
	}

	p.scope = compileScope(s.Scope, c)
	p.mappings = compileMappings(s, p.userType, c)
	p.fingerprint = fingerprint(s)
	p.lifecycle = compileLifecycle(s.Lifecycle, c)
	if s.Groups != nil {
		p.groups = compileGroups(*s.Groups, c)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	p.sourceProps = p.collectSourceProps()
	return p, nil
}

// collectSourceProps lists what must be read of each source user.
func (p *Pair) collectSourceProps() []string {
	seen := map[string]bool{}
	for _, n := range []string{propID, propUPN, propMail, propUserType, propCreationType, propAccountEnabled} {
		seen[n] = true
	}
	for _, f := range p.scope.filters {
		for _, cl := range f.clauses {
			seen[cl.attr] = true
		}
	}
	for _, m := range p.mappings {
		if m.source != "" {
			seen[m.source] = true
		}
		if m.expr != nil {
			for _, a := range m.expr.attrs {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Name is the pair's name.
func (p *Pair) Name() string { return p.name }

// InScope decides whether u is in the pair's scope and says why. Guests
// and external users of the source are never in scope; then exclusions,
// group membership and the scoping filters apply, in that order.
// memberOf answers whether u belongs to a scoped group; the worker
// resolves it, directly or transitively as Transitive says (it may be nil
// for an all-members scope).
func (p *Pair) InScope(u Attributes, memberOf func(groupID string) bool) Decision {
	return p.scope.decide(u, memberOf)
}

// Desired returns the attributes the guest of u must have, by Graph
// property name, with values of the property's type (string, bool,
// []string, or nil to clear it). Create-only mappings (and userType unless
// ConvertUserType) are included only when creating. "manager" holds the
// source manager's object ID: the worker translates it into the manager's
// guest ID. A mapping that fails for this user (a type mismatch, say)
// gives an error wrapping *EvalError values: park the user, not the pair.
func (p *Pair) Desired(u Attributes, creating bool) (map[string]any, error) {
	return evalMappings(p.mappings, u, creating)
}

// SourceProperties lists, sorted, the properties to read ($select) of
// source users: everything the mappings and filters reference plus id,
// userPrincipalName, mail, userType, creationType and accountEnabled.
// Extension attributes appear flattened ("extensionAttribute3") and the
// manager as "manager"; the Graph adapter translates both.
func (p *Pair) SourceProperties() []string {
	return append([]string(nil), p.sourceProps...)
}

// TargetProperties lists, sorted, the guest properties the mappings write
// (userType included), so a caller can check them against, say, the
// target tenant's stamp attribute.
func (p *Pair) TargetProperties() []string {
	out := make([]string, len(p.mappings))
	for i, m := range p.mappings {
		out[i] = m.target
	}
	return out
}

// Action is the lifecycle action for an event; an unknown event gets None.
func (p *Pair) Action(e Event) Action {
	if a, ok := p.lifecycle[e]; ok {
		return a
	}
	return None
}

// DeletionThreshold is the number of deletes plus disables per cycle
// above which they are staged for approval; 0 means no threshold.
func (p *Pair) DeletionThreshold() int { return p.threshold }

// ExistingGuest is the policy for a guest with the same mail that ctsync
// did not create.
func (p *Pair) ExistingGuest() ExistingGuestPolicy { return p.existingGuest }

// UserType is "Member" or "Guest": the type of guests this pair creates.
func (p *Pair) UserType() string { return p.userType }

// ConvertUserType says whether an existing guest of another type is
// converted (userType is then mapped always, not only on create).
func (p *Pair) ConvertUserType() bool { return p.convert }

// Groups are the scoped groups' object IDs (lower case), or nil for an
// all-members scope.
func (p *Pair) Groups() []string { return append([]string(nil), p.scope.groups...) }

// Transitive says whether group membership includes nested groups.
func (p *Pair) Transitive() bool { return p.scope.transitive }

// Fingerprint identifies what decides who is in scope and what a guest
// looks like (scope, mappings, user type), stable across runs: when it
// changes, every user must be looked at again, not only those that change
// at the source.
func (p *Pair) Fingerprint() uint64 { return p.fingerprint }

// GroupSync returns the pair's group sync rules ([pair.groups]) for the
// source tenant named sourceTenant (the pair's source, as the
// configuration names it), which the default target group description
// holds; nil when the pair syncs no groups. Each call returns a new value.
func (p *Pair) GroupSync(sourceTenant string) *GroupRules {
	if p.groups == nil {
		return nil
	}
	return p.groups.bind(sourceTenant)
}

// fingerprint hashes the defaulted spec's scope and mapping settings
// ([pair.groups] is not among them: GroupRules has its own Fingerprint, so
// a change to group sync never makes every user be read again).
func fingerprint(s PairSpec) uint64 {
	b, _ := json.Marshal(struct {
		Scope    ScopeSpec
		Mappings []MappingSpec
		UserType string
		Convert  bool
	}{s.Scope, s.Mappings, s.UserType, s.ConvertUserType})
	return Hash(map[string]any{"spec": string(b)})
}

// String names the pair, for logs.
func (p *Pair) String() string { return fmt.Sprintf("policy(%s)", p.name) }
