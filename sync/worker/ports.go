package worker

import (
	"context"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// Source reads a source tenant. Package tenants implements it.
type Source interface {
	// Users streams the tenant's internal members, page by page.
	Users(ctx context.Context, props []string, page func([]directory.User) error) error
	// Delta runs one delta round from link ("" = a full initial round) and
	// returns the new delta link. An expired link is reported as an error
	// that errors.Is matches with directory.ErrSyncStateExpired. Errors are
	// classified with the sentinel errors of package directory.
	Delta(ctx context.Context, link string, props []string, page func([]directory.User) error) (string, error)
	// User reads one user by object ID or UPN.
	User(ctx context.Context, idOrUPN string, props []string) (*directory.User, error)
	// GroupMembers lists the user IDs in a group, direct or transitive.
	GroupMembers(ctx context.Context, groupID string, transitive bool) ([]string, error)
	// Managers returns the manager's object ID of each user that has one.
	Managers(ctx context.Context, userIDs []string) (map[string]string, error)
	// Domains returns the tenant's verified domain names: adopting a guest
	// by mail needs the mail's domain to be one of them.
	Domains(ctx context.Context) ([]string, error)
	// LatestDelta returns a delta link from now on without reading any
	// user ($deltatoken=latest): the fast lane's first link.
	LatestDelta(ctx context.Context, props []string) (string, error)
}

// Target writes B2B users into a target tenant. Package tenants implements it.
type Target interface {
	// FindByStamp returns the users carrying ctsync's stamp value.
	FindByStamp(ctx context.Context, stamp string) ([]directory.User, error)
	// FindByMail returns the users whose mail or otherMails is mail.
	FindByMail(ctx context.Context, mail string) ([]directory.User, error)
	// Invite creates a B2B user and returns its object ID.
	Invite(ctx context.Context, inv directory.Invitation) (string, error)
	// Get reads a user's properties.
	Get(ctx context.Context, id string, props []string) (*directory.User, error)
	// Update patches properties ("manager" sets or clears the reference).
	Update(ctx context.Context, id string, props map[string]any) error
	SoftDelete(ctx context.Context, id string) error
	Restore(ctx context.Context, id string) error
	HardDelete(ctx context.Context, id string) error
	// Stamped streams every user carrying a ctsync stamp.
	Stamped(ctx context.Context, page func([]directory.User) error) error
	// RevokeSessions invalidates a user's sign-in sessions (the fast
	// lane, after disabling a guest).
	RevokeSessions(ctx context.Context, id string) error
}

// Rules is what the worker needs of a pair's compiled policy.
type Rules interface {
	// InScope decides scope with a reason; memberOf answers group
	// membership (direct or transitive, as Transitive says).
	InScope(u directory.User, memberOf func(groupID string) bool) (bool, string)
	Desired(u directory.User, creating bool) (map[string]any, error)
	Action(e policy.Event) plan.Action
	DeletionThreshold() int
	// SourceProperties are the properties to read from the source.
	SourceProperties() []string
	// Groups are the scope's groups; none means all members.
	Groups() []string
	Transitive() bool
	// ExistingGuest is "adopt", "skip" or "fail".
	ExistingGuest() string
	// UserType is the invited user type, "Member" or "Guest".
	UserType() string
	// MapsManager reports whether the mappings include the manager.
	MapsManager() bool
	// Fingerprint identifies the scope and mappings; when it changes the
	// next cycle reads the source in full so every user is re-evaluated.
	Fingerprint() uint64
}
