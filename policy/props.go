package policy

import (
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

var (
	propByName = map[string]*prop{}
	propByFold = map[string]*prop{}
)

func init() {
	for i := 1; i <= 15; i++ {
		userProps = append(userProps, prop{name: "extensionAttribute" + strconv.Itoa(i), writable: true})
	}
	for i := range userProps {
		p := &userProps[i]
		propByName[p.name] = p
		propByFold[strings.ToLower(p.name)] = p
	}
}

// lookupProp finds a property by name; Graph accepts names in any case,
// so a name in another case resolves to the canonical spelling.
func lookupProp(name string) *prop {
	if p, ok := propByName[name]; ok {
		return p
	}
	return propByFold[strings.ToLower(name)]
}
