package tenants

import (
	"context"

	"github.com/ctsync/ctsync/internal/directory"
)

// sourceContract and targetContract are Source and Target as CONTRACTS.md lists them for sync/worker, which does
// not exist yet: the worker will declare them, and these checks keep this
// package in step until it does.
type sourceContract interface {
	Users(ctx context.Context, props []string, page func([]directory.User) error) error
	Delta(ctx context.Context, link string, props []string, page func([]directory.User) error) (newLink string, err error)
	User(ctx context.Context, idOrUPN string, props []string) (*directory.User, error)
	GroupMembers(ctx context.Context, groupID string, transitive bool) ([]string, error)
	// Managers is required by sync/worker's own Source port (ports.go).
	Managers(ctx context.Context, userIDs []string) (map[string]string, error)
}

// errorsContract is sync/worker's Errors port.
type errorsContract interface {
	IsNotFound(err error) bool
	IsSyncStateExpired(err error) bool
	IsFatal(err error) bool
}

type targetContract interface {
	FindByStamp(ctx context.Context, stamp string) ([]directory.User, error)
	FindByMail(ctx context.Context, mail string) ([]directory.User, error)
	Invite(ctx context.Context, inv directory.Invitation) (guestID string, err error)
	Get(ctx context.Context, id string, props []string) (*directory.User, error)
	Update(ctx context.Context, id string, props map[string]any) error
	SoftDelete(ctx context.Context, id string) error
	Restore(ctx context.Context, id string) error
	HardDelete(ctx context.Context, id string) error
	Stamped(ctx context.Context, page func([]directory.User) error) error
}

var (
	_ sourceContract = (*Source)(nil)
	_ targetContract = (*Target)(nil)
	_ errorsContract = Errors{}
)
