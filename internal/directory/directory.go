// Package directory holds ctsync's own small types for directory objects.
//
// Only package tenants knows Microsoft Graph's SDK; it converts Graph users
// into these types, and everything else (policy evaluation in the worker,
// sync/plan, guestmap, the CLI) works on them. A source user and a target
// guest are both a User: a Graph object ID plus the selected properties by
// their Graph names.
package directory

import "sort"

// Removal says why a delta round reported a user as removed.
type Removal string

const (
	// NotRemoved is an ordinary (added or changed) user.
	NotRemoved Removal = ""
	// SoftDeleted is Graph's "@removed": {"reason": "changed"}: the user is
	// in deleted items and can be restored for 30 days.
	SoftDeleted Removal = "changed"
	// HardDeleted is Graph's "@removed": {"reason": "deleted"}: the user is
	// gone for good.
	HardDeleted Removal = "deleted"
)

// Well-known Graph property names used across ctsync.
const (
	PropUPN               = "userPrincipalName"
	PropMail              = "mail"
	PropOtherMails        = "otherMails"
	PropUserType          = "userType"
	PropAccountEnabled    = "accountEnabled"
	PropCreationType      = "creationType"
	PropExternalUserState = "externalUserState"
	PropDisplayName       = "displayName"
	// PropManager holds the manager's object ID (a string), or nil for none.
	PropManager = "manager"
)

// User is a directory user as ctsync sees it.
//
// Attrs maps Graph property names to values. Values are string, bool,
// int64, []string or nil (nil: the property is present but null). A missing
// key means the property was not read. onPremisesExtensionAttributes are
// flattened as "extensionAttribute1" .. "extensionAttribute15"; the manager
// is its object ID under "manager".
type User struct {
	ID      string
	Removed Removal
	Attrs   map[string]any
}

// Attr returns the value of a property and whether it was read at all.
func (u User) Attr(name string) (any, bool) {
	v, ok := u.Attrs[name]
	return v, ok
}

// Str returns a string property, or "" when it is missing, null or not a string.
func (u User) Str(name string) string {
	s, _ := u.Attrs[name].(string)
	return s
}

// Bool returns a boolean property and whether it was present as a bool.
func (u User) Bool(name string) (value, ok bool) {
	value, ok = u.Attrs[name].(bool)
	return value, ok
}

// Strings returns a string-collection property, or nil.
func (u User) Strings(name string) []string {
	s, _ := u.Attrs[name].([]string)
	return s
}

// Enabled reports accountEnabled, treating a missing value as enabled
// (Graph's default for new users).
func (u User) Enabled() bool {
	v, ok := u.Bool(PropAccountEnabled)
	return !ok || v
}

// Names returns the property names present on u, sorted.
func (u User) Names() []string {
	names := make([]string, 0, len(u.Attrs))
	for k := range u.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Invitation asks a target tenant to create a B2B user for an address.
type Invitation struct {
	// Email is invitedUserEmailAddress: the source user's mail.
	Email string
	// DisplayName is invitedUserDisplayName.
	DisplayName string
	// UserType is invitedUserType: "Guest" or "Member".
	UserType string
	// RedirectURL is inviteRedirectUrl (required by Graph).
	RedirectURL string
	// SendMessage sends Microsoft's invitation mail; ctsync's default is false.
	SendMessage bool
}
