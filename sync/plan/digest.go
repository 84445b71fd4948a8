package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Digest identifies a plan's decisions: every change's action, user,
// guest, properties to write and admin context, under the policy whose
// fingerprint is policy. Two plans with one digest do the same writes.
// `ctsync plan --out` records it, and `ctsync once --plan` applies a pair
// only if the plan it computes has the digest that was reviewed, so a
// source or a map that moved on since (a user changed, a retry fell due,
// an admin decided) refuses the run instead of doing unreviewed writes.
// Reasons and counts of unchanged users are left out: they explain the
// plan, they do not change what it writes.
func Digest(p *Plan, policy uint64) string {
	h := sha256.New()
	h.Write([]byte("ctsync plan v1\x00" + strconv.FormatUint(policy, 16) + "\x00"))
	enc := json.NewEncoder(h) // json sorts map keys: the same Set hashes the same
	for _, c := range p.Changes {
		_ = enc.Encode(struct {
			A  Action         `json:"a"`
			S  string         `json:"s"`
			G  string         `json:"g,omitempty"`
			W  map[string]any `json:"w,omitempty"`
			M  string         `json:"m,omitempty"`
			MP bool           `json:"mp,omitempty"`
			E  string         `json:"e,omitempty"`
			St Action         `json:"st,omitempty"`
			AG string         `json:"ag,omitempty"`
			R  bool           `json:"r,omitempty"`
		}{c.Action, c.SourceID, c.GuestID, c.Set, c.ManagerSourceID, c.ManagerPending, string(c.Event), c.Staged, c.AdoptGuest, c.Rejected})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
