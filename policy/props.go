package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is the value type of a Graph user property.
type kind int

const (
	kString kind = iota
	kBool
	kStrings // a collection of strings
	kRef     // manager: the object ID of another user
)

func (k kind) String() string {
	switch k {
	case kBool:
		return "boolean"
	case kStrings:
		return "string collection"
	case kRef:
		return "reference"
	}
	return "string"
}

// prop is what policy knows of one Graph user property.
type prop struct {
	name string
	kind kind
	// writable: ctsync may set it on a guest. Properties Graph lets one
	// write but ctsync must not (userPrincipalName, derived from the invited
	// address) are not writable here; readOnly says why.
	writable bool
	readOnly string
}

// Well-known property names.
const (
	propID             = "id"
	propUPN            = "userPrincipalName"
	propMail           = "mail"
	propUserType       = "userType"
	propCreationType   = "creationType"
	propAccountEnabled = "accountEnabled"
	propManager        = "manager"
)

// userProps are the Graph v1.0 user properties a source may be read for
// and, where writable, a guest may be given. Extension attributes
// ("extensionAttribute1".."15", flattened onPremisesExtensionAttributes)
// are added by init.
var userProps = []prop{
	{name: "accountEnabled", kind: kBool, writable: true},
	{name: "ageGroup", writable: true},
	{name: "businessPhones", kind: kStrings, writable: true},
	{name: "city", writable: true},
	{name: "companyName", writable: true},
	{name: "consentProvidedForMinor", writable: true},
	{name: "country", writable: true},
	{name: "createdDateTime", readOnly: "Graph sets it when the user is created"},
	{name: "creationType", readOnly: "Graph sets it (Invitation for guests)"},
	{name: "department", writable: true},
	{name: "displayName", writable: true},
	{name: "employeeHireDate", writable: true},
	{name: "employeeId", writable: true},
	{name: "employeeLeaveDateTime", writable: true},
	{name: "employeeType", writable: true},
	{name: "externalUserState", readOnly: "Graph tracks the invitation's redemption in it"},
	{name: "faxNumber", writable: true},
	{name: "givenName", writable: true},
	{name: "id", readOnly: "object IDs are assigned by Entra"},
	{name: "imAddresses", kind: kStrings, readOnly: "Graph derives it"},
	{name: "isResourceAccount", kind: kBool, readOnly: "it is reserved by Graph"},
	{name: "jobTitle", writable: true},
	{name: "mail", writable: true},
	{name: "mailNickname", writable: true},
	{name: "manager", kind: kRef, writable: true},
	{name: "mobilePhone", writable: true},
	{name: "officeLocation", writable: true},
	{name: "onPremisesDistinguishedName", readOnly: "it comes from on-premises sync"},
	{name: "onPremisesDomainName", readOnly: "it comes from on-premises sync"},
	{name: "onPremisesImmutableId", readOnly: "it links on-premises accounts, never guests"},
	{name: "onPremisesSamAccountName", readOnly: "it comes from on-premises sync"},
	{name: "onPremisesSecurityIdentifier", readOnly: "it comes from on-premises sync"},
	{name: "onPremisesSyncEnabled", kind: kBool, readOnly: "it comes from on-premises sync"},
	{name: "onPremisesUserPrincipalName", readOnly: "it comes from on-premises sync"},
	{name: "otherMails", kind: kStrings, writable: true},
	{name: "postalCode", writable: true},
	{name: "preferredDataLocation", writable: true},
	{name: "preferredLanguage", writable: true},
	{name: "proxyAddresses", kind: kStrings, readOnly: "Exchange maintains it"},
	{name: "securityIdentifier", readOnly: "Entra assigns it"},
	{name: "showInAddressList", kind: kBool, writable: true},
	{name: "state", writable: true},
	{name: "streetAddress", writable: true},
	{name: "surname", writable: true},
	{name: "usageLocation", writable: true},
	{name: "userPrincipalName", readOnly: "Graph derives a guest's UPN from the invited address (alias_domain#EXT#@tenant)"},
	{name: "userType", writable: true},
}

// propTable is a set of properties that expressions and scoping clauses
// resolve attribute names against: the user properties (userTable) or a
// source group's attributes (groupTable).
type propTable struct {
	props  []prop
	byName map[string]*prop
	byFold map[string]*prop
	// unknown is the message for a name t does not hold, as written in an
	// expression (inExpr) or elsewhere (a clause's attribute).
	unknown func(t *propTable, name string, inExpr bool) string
}

func newPropTable(props []prop, unknown func(t *propTable, name string, inExpr bool) string) *propTable {
	t := &propTable{props: props, byName: map[string]*prop{}, byFold: map[string]*prop{}, unknown: unknown}
	for i := range props {
		p := &props[i]
		t.byName[p.name] = p
		t.byFold[strings.ToLower(p.name)] = p
	}
	return t
}

// lookup finds a property by name; Graph accepts names in any case, so a
// name in another case resolves to the canonical spelling.
func (t *propTable) lookup(name string) *prop {
	if p, ok := t.byName[name]; ok {
		return p
	}
	return t.byFold[strings.ToLower(name)]
}

// suggest is " (did you mean x?)" for the property of t closest to name,
// or "" when none is close.
func (t *propTable) suggest(name string) string {
	low := strings.ToLower(name)
	best, bestD := "", min(3, len(low)/3+1)
	for _, pr := range t.props {
		if d := editDistance(low, strings.ToLower(pr.name), bestD); d < bestD {
			best, bestD = pr.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// userTable holds userProps; built by init, once the extension attributes
// are in.
var userTable *propTable

func init() {
	for i := 1; i <= 15; i++ {
		userProps = append(userProps, prop{name: "extensionAttribute" + strconv.Itoa(i), writable: true})
	}
	userTable = newPropTable(userProps, unknownSourceAttr)
}

// unknownSourceAttr is the message for a name that is no user property:
// [name] in an expression, quoted elsewhere.
func unknownSourceAttr(t *propTable, name string, inExpr bool) string {
	if inExpr {
		return fmt.Sprintf("unknown source attribute [%s]%s", name, t.suggest(name))
	}
	return fmt.Sprintf("unknown source attribute %q%s", name, t.suggest(name))
}

// lookupProp finds a user property by name, in any case.
func lookupProp(name string) *prop { return userTable.lookup(name) }

// suggestProp suggests the user property closest to name.
func suggestProp(name string) string { return userTable.suggest(name) }
