package policy

// The *Spec types are the policy part of a pair's configuration exactly as
// an admin writes it in the TOML file. internal/config decodes them (they
// carry the toml tags) and Compile turns them into checked, ready rules.
// Pointers mark settings whose absence means "use the default".

// PairSpec is one pair's policy configuration.
type PairSpec struct {
	// UserType is the user type of guests this pair creates: "Member"
	// (Entra's default for cross-tenant sync) or "Guest".
	UserType string `toml:"user_type"`
	// ConvertUserType also converts the type of an existing (adopted or
	// previously created) guest whose type differs.
	ConvertUserType bool `toml:"convert_user_type"`
	// Scope says which source users this pair syncs.
	Scope ScopeSpec `toml:"scope"`
	// DefaultMappings, when true or unset, starts from the default mapping
	// set that mirrors Entra's; Mappings then override or add per target
	// property. When false only Mappings apply.
	DefaultMappings *bool `toml:"default_mappings"`
	// Mappings are the attribute mappings, written [[pair.mapping]].
	Mappings []MappingSpec `toml:"mapping"`
	// Lifecycle says what to do with the guest on each source event.
	Lifecycle LifecycleSpec `toml:"lifecycle"`
	// DeletionThreshold is the number of deletes plus disables per cycle
	// above which they are staged for an admin's approval. Default 500;
	// 0 means no threshold.
	DeletionThreshold *int `toml:"deletion_threshold"`
	// ExistingGuest is what to do when the target already has a guest with
	// the source user's mail that ctsync did not create: "adopt",
	// "skip" (report it, leave it alone; the default) or "fail".
	ExistingGuest string `toml:"existing_guest"`
	// Groups, written [pair.groups], turns on group sync: the source's
	// security groups in its scope are created as security groups in the
	// target, their members being the guests of their members. nil (the
	// section left out) means no group sync. It has no part in the user
	// scope or the pair's Fingerprint; see GroupRules.
	Groups *GroupsSpec `toml:"groups"`
}

// ScopeSpec selects the source users in scope. Guests and external users of
// the source tenant are never in scope, whatever is written here.
type ScopeSpec struct {
	// All puts every internal member in scope (subject to Filters and
	// Exclude). Exactly one of All or Groups must be given.
	All bool `toml:"all_members"`
	// Groups are object IDs of source groups whose members are in scope.
	Groups []string `toml:"groups"`
	// Transitive includes members of nested groups (Entra's own sync only
	// takes direct members).
	Transitive bool `toml:"transitive"`
	// Filters are attribute scoping filters: OR-ed with each other, the
	// clauses inside one filter AND-ed. No filter means no restriction.
	Filters []FilterSpec `toml:"filter"`
	// ExcludeUPN and ExcludeMail are glob patterns (path.Match syntax,
	// case-insensitive) of users never in scope.
	ExcludeUPN  []string `toml:"exclude_upn"`
	ExcludeMail []string `toml:"exclude_mail"`
}

// FilterSpec is one scoping filter: all of its clauses must hold.
type FilterSpec struct {
	Clauses []ClauseSpec `toml:"clause"`
}

// ClauseSpec is one scoping clause, with Entra's operator names:
// EQUALS, NOT EQUALS, REGEX MATCH, NOT REGEX MATCH, IS NULL, IS NOT NULL,
// IS TRUE, IS FALSE, GREATER THAN, GREATER THAN OR EQUALS, ENDS WITH,
// INCLUDES. Underscores are accepted for spaces (GREATER_THAN).
type ClauseSpec struct {
	Attribute string `toml:"attribute"`
	Operator  string `toml:"operator"`
	Value     string `toml:"value"`
}

// MappingSpec maps one target property. Exactly one of Source, Constant or
// Expression is set.
type MappingSpec struct {
	// Target is the Graph property written on the guest.
	Target string `toml:"target"`
	// Source is a source attribute copied as is.
	Source string `toml:"source"`
	// Constant is a fixed value.
	Constant *string `toml:"constant"`
	// Expression uses Entra's mapping language, e.g.
	// Join(" ", [givenName], [surname]).
	Expression string `toml:"expression"`
	// Apply is "always" (default), "create" (only when the guest is made)
	// or "never" (drops the default mapping of Target; give no source,
	// constant or expression then).
	Apply string `toml:"apply"`
}

// LifecycleSpec gives the action for each source event. Each value is one
// of "none", "disable", "soft-delete", "hard-delete", "restore"; empty
// means the default.
type LifecycleSpec struct {
	// Disabled: the source user's account was disabled. Default "disable".
	Disabled string `toml:"disabled"`
	// OutOfScope: the user left the scope. Default "soft-delete".
	OutOfScope string `toml:"out_of_scope"`
	// SoftDeleted: the source user was deleted (restorable). Default "soft-delete".
	SoftDeleted string `toml:"soft_deleted"`
	// HardDeleted: the source user is gone for good. Default "soft-delete"
	// (ctsync never hard-deletes unless told to).
	HardDeleted string `toml:"hard_deleted"`
	// Restored: the source user came back. Default "restore".
	Restored string `toml:"restored"`
}

// GroupsSpec is a pair's group sync, [pair.groups]. A source group is in
// scope when Names names it or one of Filters matches it; at least one of
// the two is given. Not to be confused with [pair.scope] groups, whose
// members are the users in scope.
type GroupsSpec struct {
	// Names are source groups by display name (any case) or by object ID
	// (a GUID). A group named by display name leaves scope when renamed.
	Names []string `toml:"names"`
	// Filters are scoping filters on the group's displayName, description
	// and mailNickname, with the user scope's operators: OR-ed with each
	// other, the clauses inside one filter AND-ed.
	Filters []FilterSpec `toml:"filter"`
	// Transitive makes the members of nested groups members of the target
	// group too. The target group is flat either way: ctsync never nests
	// groups in the target.
	Transitive bool `toml:"transitive"`
	// Members is "managed" (the default: ctsync adds and removes only the
	// members it added) or "exact" (the target group's members are exactly
	// the guests of the source group's members; any other is removed).
	Members string `toml:"members"`
	// DisplayName is an expression giving the target group's displayName
	// from the source group's attributes; default "[displayName]".
	DisplayName string `toml:"display_name"`
	// Description is an expression giving the target group's description;
	// default the fixed text "Synced by ctsync from tenant <source tenant>
	// (group <source group ID>)".
	Description string `toml:"description"`
	// OutOfScope is what happens to the target group when the source group
	// is deleted or leaves scope: "delete" (the default) or "keep" (left in
	// place without the members ctsync added, and no longer updated).
	OutOfScope string `toml:"out_of_scope"`
}
