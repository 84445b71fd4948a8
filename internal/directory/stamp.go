package directory

import "strings"

// StampPrefix starts every stamp ctsync writes on a guest.
const StampPrefix = "ctsync:"

// Stamp returns the value ctsync writes into the target tenant's stamp
// slot (an onPremisesExtensionAttributes slot) on the guest of a source
// user: "ctsync:" + source tenant ID + ":" + source object ID. It marks
// the guest as ctsync's and lets the map be rebuilt from the target.
func Stamp(sourceTenantID, sourceID string) string {
	return StampPrefix + sourceTenantID + ":" + sourceID
}

// ParseStamp splits a stamp made by Stamp.
func ParseStamp(stamp string) (sourceTenantID, sourceID string, ok bool) {
	rest, found := strings.CutPrefix(stamp, StampPrefix)
	if !found {
		return "", "", false
	}
	tenant, id, found := strings.Cut(rest, ":")
	if !found || tenant == "" || id == "" {
		return "", "", false
	}
	return tenant, id, true
}
