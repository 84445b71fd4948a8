package policy

import "strings"

// Defaults, as Entra's cross-tenant synchronization has them.
const (
	// DefaultUserType is the type of guests a pair creates.
	DefaultUserType = "Member"
	// DefaultDeletionThreshold is the number of deletes plus disables per
	// cycle above which they are staged for approval.
	DefaultDeletionThreshold = 500
	// ApplyAlways and ApplyCreate are the values of MappingSpec.Apply;
	// ApplyNever drops a default mapping without replacing it.
	ApplyAlways = "always"
	ApplyCreate = "create"
	ApplyNever  = "never"
)

// SetDefaults fills every setting left out of the spec: user type Member,
// existing guests skipped, threshold 500, the default mapping set on,
// mappings applied always, and Entra's lifecycle (disable on disable,
// soft-delete on out-of-scope and on either delete, restore on restore).
// It changes s.Mappings' elements in place; Compile works on a copy.
func (s *PairSpec) SetDefaults() {
	if strings.TrimSpace(s.UserType) == "" {
		s.UserType = DefaultUserType
	}
	if strings.TrimSpace(s.ExistingGuest) == "" {
		s.ExistingGuest = string(SkipExisting)
	}
	if s.DeletionThreshold == nil {
		n := DefaultDeletionThreshold
		s.DeletionThreshold = &n
	}
	if s.DefaultMappings == nil {
		t := true
		s.DefaultMappings = &t
	}
	for i := range s.Mappings {
		if strings.TrimSpace(s.Mappings[i].Apply) == "" {
			s.Mappings[i].Apply = ApplyAlways
		}
	}
	for _, r := range lifecycleRules {
		if f := s.Lifecycle.field(r.event); strings.TrimSpace(*f) == "" {
			*f = string(r.def)
		}
	}
}

// DefaultMappings returns the default mapping set, mirroring Entra's
// cross-tenant synchronization: the profile attributes copied as they are,
// the manager (as the source manager's ID; the worker translates it) and the
// account state. userType is not listed: it follows user_type and
// convert_user_type. showInAddressList is not listed although Entra's sync
// sets it: the user resource documentation says not to use it in Microsoft
// Graph (it reads back null and is absent from delta), so a mapping of it
// would be rewritten on every diff read-back. Map it explicitly only if you
// accept that.
func DefaultMappings() []MappingSpec {
	direct := []string{
		"displayName", "givenName", "surname", "mail", "jobTitle", "department",
		"companyName", "officeLocation", "city", "country", "usageLocation",
		"employeeId", "mobilePhone", "businessPhones", "manager", "accountEnabled",
	}
	out := make([]MappingSpec, 0, len(direct))
	for _, p := range direct {
		out = append(out, MappingSpec{Target: p, Source: p, Apply: ApplyAlways})
	}
	return out
}

// cloneSpec copies s deeply enough that SetDefaults cannot touch the
// caller's slices.
func cloneSpec(s PairSpec) PairSpec {
	s.Mappings = append([]MappingSpec(nil), s.Mappings...)
	return s
}
