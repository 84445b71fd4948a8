package plan

import (
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
)

// Hash is the stable hash of a desired attribute set, with the manager in
// source terms: whether the manager's guest exists yet, or was recreated
// under another ID, does not change what the source asked for.
func Hash(set map[string]any, managerSourceID string) uint64 {
	withManager := make(map[string]any, len(set)+1)
	for k, v := range set {
		withManager[k] = v
	}
	withManager[directory.PropManager] = managerSourceID
	return policy.Hash(withManager)
}

// Narrow keeps in c.Set only the properties whose value differs from the
// guest's current one, recording the old values, so an update patches only
// what changed. The manager is kept as planned: Graph returns it apart from
// the user's properties.
func (c *Change) Narrow(guest directory.User) {
	set := map[string]any{}
	old := map[string]any{}
	for k, v := range c.Set {
		if k == directory.PropManager {
			set[k] = v
			continue
		}
		cur, read := guest.Attrs[k]
		if read && policy.SameValue(cur, v) {
			continue
		}
		set[k] = v
		if read {
			old[k] = cur
		}
	}
	c.Set, c.Old, c.NeedsDiff = set, old, false
}
