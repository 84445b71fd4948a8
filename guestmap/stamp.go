package guestmap

import "strings"

// StampPrefix starts every stamp ctsync writes on a guest.
const StampPrefix = "ctsync:"

// MakeStamp returns the stamp ctsync writes on the guest of a source user:
// "ctsync:" + source tenant ID + ":" + source object ID.
func MakeStamp(sourceTenantID, sourceID string) string {
	return StampPrefix + sourceTenantID + ":" + sourceID
}

// ParseStamp splits a stamp made by MakeStamp.
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
