package directory

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// Group properties ctsync reads and writes.
const (
	PropDescription  = "description"
	PropMailNickname = "mailNickname"
)

// MemberKind says what a group member is.
type MemberKind string

const (
	MemberUser  MemberKind = "user"
	MemberGroup MemberKind = "group"
	// MemberOther is any other directory object (a device, a service
	// principal, an org contact): ctsync never syncs it.
	MemberOther MemberKind = "other"
)

// Member is one direct member of a group.
type Member struct {
	ID   string
	Kind MemberKind
}

// Group is a security group as ctsync sees it, read in full or as one
// object of a groups delta round.
//
// In a delta round Graph reports a group's member changes in
// members@delta: Added holds the members added (in an initial round, every
// member), Left the members removed. A large group's members arrive split
// over several objects for the same group ID, so a consumer merges every
// object of a round by ID. Attributes absent from Attrs were not in the
// object (a members-only change carries no displayName).
type Group struct {
	ID      string
	Removed Removal
	Attrs   map[string]any
	Added   []Member
	Left    []Member
}

// Str returns a string attribute, or "".
func (g Group) Str(name string) string {
	s, _ := g.Attrs[name].(string)
	return s
}

// NewGroup is a security group to create in a target tenant.
type NewGroup struct {
	DisplayName string
	Description string
	// MailNickname carries ctsync's group stamp (GroupStamp).
	MailNickname string
}

// GroupStampPrefix starts the mailNickname of every group ctsync creates.
const GroupStampPrefix = "ctsync-"

// groupStampEncoding is lower-case base32 without padding: letters and
// digits only, which mailNickname allows.
var groupStampEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// GroupStamp returns the mailNickname ctsync gives the target group of a
// source group: "ctsync-" + the two GUIDs' 32 bytes in base32 (59
// characters, within mailNickname's 64).
//
// Groups have no onPremisesExtensionAttributes, so a group's stamp lives in
// mailNickname: Graph requires it on every new group anyway, filters on it
// with a plain `eq` (no advanced query, so no lagging search index) and a
// `startsWith` for the rebuild, and it needs no permission beyond
// Group.ReadWrite.All. A directory extension property would need the app to
// register a schema extension (Application.ReadWrite.OwnedBy) in every
// target tenant and an advanced query to filter on it. Like the user stamp,
// it is reversible, so the map can be rebuilt from the target alone; an
// admin who renames the nickname detaches the group, as one who clears a
// guest's stamp slot detaches the guest.
func GroupStamp(sourceTenantID, sourceGroupID string) (string, error) {
	t, err := guidBytes(sourceTenantID)
	if err != nil {
		return "", fmt.Errorf("group stamp: source tenant ID: %w", err)
	}
	g, err := guidBytes(sourceGroupID)
	if err != nil {
		return "", fmt.Errorf("group stamp: source group ID: %w", err)
	}
	return GroupStampPrefix + groupStampEncoding.EncodeToString(append(t, g...)), nil
}

// ParseGroupStamp reverses GroupStamp.
func ParseGroupStamp(nick string) (sourceTenantID, sourceGroupID string, ok bool) {
	rest, found := strings.CutPrefix(strings.ToLower(nick), GroupStampPrefix)
	if !found {
		return "", "", false
	}
	b, err := groupStampEncoding.DecodeString(rest)
	if err != nil || len(b) != 32 {
		return "", "", false
	}
	return formatGUID(b[:16]), formatGUID(b[16:]), true
}

// guidBytes parses a GUID in its usual 8-4-4-4-12 form.
func guidBytes(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%q is not a GUID", s)
	}
	return b, nil
}

func formatGUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
