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

// support says whether a $filter operator works on a property: not at all,
// by default, or only as an advanced query (ConsistencyLevel: eventual and
// $count=true).
type support int

const (
	opNone     support = iota // not supported: 400 even with the advanced parameters
	opDefault                 // works without special parameters
	opAdvanced                // needs ConsistencyLevel: eventual and $count=true
)

// Filter operators a property can support. "null" is a comparison with the
// null literal (eq null; ne null also needs "ne").
const (
	opEq         = "eq"
	opNe         = "ne"
	opNot        = "not"
	opGe         = "ge"
	opLe         = "le"
	opIn         = "in"
	opStartsWith = "startsWith"
	opEndsWith   = "endsWith"
	opNull       = "null"
)

// parseOps reads a property's operator table written as "eq=D ne=A ..."
// (D default, A advanced; an operator left out is not supported).
func parseOps(spec string) map[string]support {
	m := map[string]support{}
	for _, f := range strings.Fields(spec) {
		op, lvl, _ := strings.Cut(f, "=")
		switch lvl {
		case "D":
			m[op] = opDefault
		case "A":
			m[op] = opAdvanced
		default:
			panic("graphsim: bad operator spec " + f)
		}
	}
	return m
}

// propDef describes one user property the simulator stores.
type propDef struct {
	name     string
	kind     kind
	writable bool   // settable by POST /users and PATCH
	def      bool   // part of the default property set returned without $select
	maxLen   int    // for strings; 0 means no limit checked
	ops      string // $filter operators, see parseOps; "" means not filterable
	opm      map[string]support
}

// userProps lists the user properties in the order Graph renders them.
// Graph returns only the default set (def) unless $select names others;
// userType, accountEnabled, creationType, externalUserState,
// onPremisesExtensionAttributes and the rest come only when selected.
//
// The ops columns copy the per-property $filter table of "Advanced query
// capabilities on Microsoft Entra ID objects"
// (https://learn.microsoft.com/graph/aad-advanced-queries, section "Support
// for filter by properties of Microsoft Entra ID (directory) objects"; the
// table lives in microsoft-graph-docs-contrib includes/filter-directory-objects.md).
// Where that table and the "user resource type" property notes disagree the
// simulator takes the stricter one (a blank cell means unsupported: jobTitle
// has no startsWith, city no le), with three exceptions written down here:
//   - onPremisesExtensionAttributes: eq, ne, not, in, ge, le, null, all
//     advanced only, startsWith unsupported (user resource type and
//     onPremisesExtensionAttributes resource type pages);
//   - externalUserState and externalUserStateChangeDateTime are missing from
//     the table; the user resource type page lists eq, ne, not, in;
//   - mail: the user page lists "eq on null values" (advanced).
//
// init adds the page's two general rules: "in" works by default wherever
// "eq" does, and a property supporting "ne" supports "not" (advanced).
// endsWith exists only on mail, otherMails, userPrincipalName and
// proxyAddresses, always advanced (same page).
var userProps = []propDef{
	{name: "id", kind: kString, def: true, ops: "eq=D ne=A not=A in=D"},
	{name: "accountEnabled", kind: kBool, writable: true, ops: "eq=D ne=A not=A ge=A le=A in=D"},
	{name: "businessPhones", kind: kStrings, writable: true, def: true, ops: "eq=D not=A"},
	{name: "city", kind: kString, writable: true, maxLen: 128, ops: "eq=D ne=A not=A ge=D in=D startsWith=D null=A"},
	{name: "companyName", kind: kString, writable: true, maxLen: 64, ops: "eq=A ne=A not=A ge=A le=A in=A startsWith=A null=A"},
	{name: "country", kind: kString, writable: true, maxLen: 128, ops: "eq=D ne=A not=A ge=D le=D in=D startsWith=D null=A"},
	{name: "createdDateTime", kind: kString, ops: "eq=D ne=A not=A ge=D le=D in=A"},
	{name: "creationType", kind: kString, ops: "eq=D ne=A not=A in=D"},
	{name: "deletedDateTime", kind: kString, ops: "eq=D ne=A not=A ge=D le=D in=A"},
	{name: "department", kind: kString, writable: true, maxLen: 64, ops: "eq=D ne=A not=A ge=D le=D in=D startsWith=D null=A"},
	{name: "displayName", kind: kString, writable: true, def: true, maxLen: 256, ops: "eq=D ne=A not=A in=D startsWith=D null=A"},
	{name: "employeeId", kind: kString, writable: true, maxLen: 16, ops: "eq=D ne=A le=A startsWith=D null=A"},
	{name: "employeeType", kind: kString, writable: true, maxLen: 64, ops: "eq=A ne=A ge=A le=A in=A startsWith=A"},
	{name: "externalUserState", kind: kString, ops: "eq=D ne=A not=A in=D"},
	{name: "externalUserStateChangeDateTime", kind: kString, ops: "eq=D ne=A not=A in=D"},
	{name: "givenName", kind: kString, writable: true, def: true, maxLen: 64, ops: "eq=D ne=A ge=D le=D in=D startsWith=D null=A"},
	{name: "identities", kind: kIdentities, ops: "eq=D"},
	{name: "jobTitle", kind: kString, writable: true, def: true, maxLen: 128, ops: "eq=D ne=A ge=D le=D in=D null=A"},
	{name: "mail", kind: kString, writable: true, def: true, maxLen: 256, ops: "eq=D ne=A ge=D le=D in=D startsWith=D endsWith=A null=A"},
	{name: "mailNickname", kind: kString, writable: true, maxLen: 64, ops: "eq=D ne=A ge=D le=D in=D startsWith=D null=A"},
	{name: "mobilePhone", kind: kString, writable: true, def: true, maxLen: 64, ops: "eq=A ne=A ge=A le=A in=A startsWith=A null=A"},
	{name: "officeLocation", kind: kString, writable: true, def: true, maxLen: 128, ops: "eq=A ne=A ge=A le=A in=A startsWith=A null=A"},
	{name: "onPremisesExtensionAttributes", kind: kExt, writable: true, ops: "eq=A ne=A not=A ge=A le=A in=A null=A"},
	{name: "onPremisesImmutableId", kind: kString, writable: true, ops: "eq=A ne=A ge=A le=A in=A"},
	{name: "onPremisesSyncEnabled", kind: kBool, ops: "eq=D ne=A ge=A le=A in=D"},
	{name: "otherMails", kind: kStrings, writable: true, ops: "eq=D ne=A ge=D le=D in=D startsWith=D endsWith=A"},
	{name: "passwordProfile", kind: kPassword, writable: true},
	{name: "postalCode", kind: kString, writable: true, maxLen: 40, ops: "eq=A ne=A ge=A le=A in=A startsWith=A null=A"},
	{name: "preferredLanguage", kind: kString, writable: true, def: true, ops: "eq=A ne=A ge=A le=A in=A startsWith=A null=A"},
	{name: "proxyAddresses", kind: kStrings, ops: "eq=D ne=A ge=D le=D startsWith=D endsWith=A null=A"},
	{name: "showInAddressList", kind: kBool, writable: true, ops: "eq=A ne=A ge=A le=A in=A"},
	// Set by POST /users/{id}/revokeSignInSessions (revoke.go); read-only.
	{name: "signInSessionsValidFromDateTime", kind: kString},
	{name: "state", kind: kString, writable: true, maxLen: 128, ops: "eq=D ne=A ge=D le=D in=D startsWith=D null=A"},
	{name: "streetAddress", kind: kString, writable: true, maxLen: 1024, ops: "eq=A ne=A ge=A le=A in=A startsWith=A null=A"},
	{name: "surname", kind: kString, writable: true, def: true, maxLen: 64, ops: "eq=D ne=A ge=D le=D in=D startsWith=D null=A"},
	{name: "usageLocation", kind: kString, writable: true, ops: "eq=D ne=A ge=D le=D in=D startsWith=D"},
	{name: "userPrincipalName", kind: kString, writable: true, def: true, maxLen: 113, ops: "eq=D ne=A le=D in=D startsWith=D endsWith=A"},
	{name: "userType", kind: kString, writable: true, ops: "eq=D ne=A not=A in=D null=A"},
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
		p.opm = parseOps(p.ops)
		if p.opm[opEq] == opDefault && p.opm[opIn] == opNone {
			p.opm[opIn] = opDefault
		}
		if p.opm[opNe] != opNone && p.opm[opNot] == opNone {
			p.opm[opNot] = opAdvanced
		}
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
