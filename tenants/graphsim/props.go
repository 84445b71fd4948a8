package graphsim

import "strings"

// kind is the JSON type of a user property.
type kind int

const (
	kString kind = iota
	kBool
	kStrings    // collection of strings
	kExt        // onPremisesExtensionAttributes: an object of 15 nullable strings
	kIdentities // collection of objectIdentity objects
	kPassword   // passwordProfile: write-only
)

// filterSupport says how a property may appear in $filter.
type filterSupport int

const (
	filterNone     filterSupport = iota // not filterable at all
	filterBasic                         // eq, in, startsWith (and any for collections) without special headers
	filterAdvanced                      // only with ConsistencyLevel: eventual and $count=true
)

// propDef describes one user property the simulator stores.
type propDef struct {
	name     string
	kind     kind
	writable bool // settable by POST /users and PATCH
	def      bool // part of the default property set returned without $select
	filter   filterSupport
	maxLen   int // for strings; 0 means no limit checked
}

// userProps lists the user properties in the order Graph renders them.
// Graph returns only the default set (def) unless $select names others;
// userType, accountEnabled, creationType, externalUserState,
// onPremisesExtensionAttributes and the rest come only when selected.
var userProps = []propDef{
	{name: "id", kind: kString, def: true, filter: filterBasic},
	{name: "accountEnabled", kind: kBool, writable: true, filter: filterBasic},
	{name: "businessPhones", kind: kStrings, writable: true, def: true, filter: filterBasic},
	{name: "city", kind: kString, writable: true, filter: filterBasic, maxLen: 128},
	{name: "companyName", kind: kString, writable: true, filter: filterBasic, maxLen: 64},
	{name: "country", kind: kString, writable: true, filter: filterBasic, maxLen: 128},
	{name: "createdDateTime", kind: kString, filter: filterAdvanced},
	{name: "creationType", kind: kString, filter: filterBasic},
	{name: "deletedDateTime", kind: kString},
	{name: "department", kind: kString, writable: true, filter: filterBasic, maxLen: 64},
	{name: "displayName", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 256},
	{name: "employeeId", kind: kString, writable: true, filter: filterBasic, maxLen: 16},
	{name: "employeeType", kind: kString, writable: true, filter: filterBasic, maxLen: 64},
	{name: "externalUserState", kind: kString, filter: filterBasic},
	{name: "externalUserStateChangeDateTime", kind: kString, filter: filterBasic},
	{name: "givenName", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 64},
	{name: "identities", kind: kIdentities, filter: filterBasic},
	{name: "jobTitle", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 128},
	{name: "mail", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 256},
	{name: "mailNickname", kind: kString, writable: true, filter: filterBasic, maxLen: 64},
	{name: "mobilePhone", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 64},
	{name: "officeLocation", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 128},
	{name: "onPremisesExtensionAttributes", kind: kExt, writable: true, filter: filterAdvanced},
	{name: "onPremisesImmutableId", kind: kString, writable: true, filter: filterBasic},
	{name: "onPremisesSyncEnabled", kind: kBool, filter: filterBasic},
	{name: "otherMails", kind: kStrings, writable: true, filter: filterBasic},
	{name: "passwordProfile", kind: kPassword, writable: true},
	{name: "postalCode", kind: kString, writable: true, filter: filterBasic, maxLen: 40},
	{name: "preferredLanguage", kind: kString, writable: true, def: true, filter: filterBasic},
	{name: "proxyAddresses", kind: kStrings, filter: filterBasic},
	{name: "showInAddressList", kind: kBool, writable: true, filter: filterBasic},
	{name: "state", kind: kString, writable: true, filter: filterBasic, maxLen: 128},
	{name: "streetAddress", kind: kString, writable: true, filter: filterBasic, maxLen: 1024},
	{name: "surname", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 64},
	{name: "usageLocation", kind: kString, writable: true, filter: filterBasic},
	{name: "userPrincipalName", kind: kString, writable: true, def: true, filter: filterBasic, maxLen: 113},
	{name: "userType", kind: kString, writable: true, filter: filterBasic},
}

// propIndex finds a property by its exact Graph name, and propFold by a
// case-insensitive one (Graph accepts $select and $filter names in any case).
var (
	propIndex = map[string]*propDef{}
	propFold  = map[string]*propDef{}
	// defaultSelect is the property set returned when $select is absent.
	defaultSelect []*propDef
)

func init() {
	for i := range userProps {
		p := &userProps[i]
		propIndex[p.name] = p
		propFold[strings.ToLower(p.name)] = p
		if p.def {
			defaultSelect = append(defaultSelect, p)
		}
	}
}

// extAttrNames are the keys of onPremisesExtensionAttributes.
var extAttrNames = func() []string {
	n := make([]string, 15)
	for i := range n {
		n[i] = "extensionAttribute" + itoa(i+1)
	}
	return n
}()

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// isExtAttrName reports whether s is extensionAttribute1..15 (any case) and
// returns its canonical spelling.
func isExtAttrName(s string) (string, bool) {
	for _, n := range extAttrNames {
		if strings.EqualFold(n, s) {
			return n, true
		}
	}
	return "", false
}
