package plan

import (
	"encoding/json"
	"hash/fnv"
	"reflect"

	"github.com/ctsync/ctsync/internal/directory"
)

// Hash is the stable hash of a desired attribute set (plus the manager in
// source terms, since the guest ID of a manager can change when the
// manager is recreated). encoding/json writes map keys sorted, so the hash
// is independent of map order.
func Hash(set map[string]any, managerSourceID string) uint64 {
	h := fnv.New64a()
	b, _ := json.Marshal(set)
	h.Write(b)
	h.Write([]byte{0})
	h.Write([]byte(managerSourceID))
	return h.Sum64()
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
		if read && sameValue(cur, v) {
			continue
		}
		set[k] = v
		if read {
			old[k] = cur
		}
	}
	c.Set, c.Old, c.NeedsDiff = set, old, false
}

// sameValue compares Graph values, treating nil, "" and an empty
// collection as the same absence of a value.
func sameValue(a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	}
	return false
}
