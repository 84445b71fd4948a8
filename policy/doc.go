// Package policy owns ctsync's pure rules for one pair (source tenant ->
// target tenant): which source users are in scope, what their guest must
// look like (attribute mappings in Entra's expression language), the user
// type, the lifecycle action for each source event, the deletion threshold,
// the existing-guest and duplicate-mail policies, and the stable hash of a
// desired attribute set.
//
// It does no I/O and imports nothing of ctsync's: users come in through the
// consumer interface Attributes. Compile turns an admin's PairSpec into a
// checked *Pair once at start-up, collecting every problem as *Error values
// that name the pair, the key path in the TOML file and, inside an
// expression, the column; a compiled Pair is immutable and safe for
// concurrent use.
package policy

// Attributes is a source user as policy reads it. Values are string, bool,
// int64, []string or nil (null); the second result is false when the
// property was not read at all. Extension attributes are flattened as
// "extensionAttribute1".."extensionAttribute15" and "manager" is the
// manager's object ID. internal/directory.User satisfies it.
type Attributes interface {
	Attr(name string) (any, bool)
}
