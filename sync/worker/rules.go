package worker

import (
	"slices"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// PolicyRules adapts a compiled pair policy to the worker's Rules.
func PolicyRules(p *policy.Pair) Rules {
	return policyRules{p: p, manager: slices.Contains(p.TargetProperties(), directory.PropManager)}
}

type policyRules struct {
	p       *policy.Pair
	manager bool
}

func (r policyRules) InScope(u directory.User, memberOf func(string) bool) (bool, string) {
	d := r.p.InScope(u, memberOf)
	return d.In, d.Reason
}

func (r policyRules) Desired(u directory.User, creating bool) (map[string]any, error) {
	return r.p.Desired(u, creating)
}

func (r policyRules) Action(e policy.Event) plan.Action {
	return r.p.Action(e)
}

func (r policyRules) DeletionThreshold() int     { return r.p.DeletionThreshold() }
func (r policyRules) SourceProperties() []string { return r.p.SourceProperties() }
func (r policyRules) Groups() []string           { return r.p.Groups() }
func (r policyRules) Transitive() bool           { return r.p.Transitive() }
func (r policyRules) ExistingGuest() string      { return string(r.p.ExistingGuest()) }
func (r policyRules) UserType() string           { return r.p.UserType() }
func (r policyRules) MapsManager() bool          { return r.manager }
func (r policyRules) Fingerprint() uint64        { return r.p.Fingerprint() }

var _ Rules = policyRules{}
