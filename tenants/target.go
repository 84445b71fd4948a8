package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	abs "github.com/microsoft/kiota-abstractions-go"
	graphdir "github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/invitations"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// DefaultRedirectURL is used when an Invitation has no RedirectURL.
const DefaultRedirectURL = "https://myapplications.microsoft.com"

// Target is a tenant as a sync target: the guests ctsync creates, adopts,
// updates and removes.
type Target struct{ c *Client }

// StampAttribute returns the extension attribute holding the stamp
// ("extensionAttribute15" by default).
func (t *Target) StampAttribute() string { return t.c.cfg.StampAttribute }

// guestProps are read for guests found by stamp or mail.
func (t *Target) guestProps() []string {
	return []string{
		directory.PropDisplayName, directory.PropMail, directory.PropOtherMails, directory.PropUPN,
		directory.PropUserType, directory.PropAccountEnabled, directory.PropCreationType,
		directory.PropExternalUserState, t.c.cfg.StampAttribute,
	}
}

// FindByStamp returns the guests carrying stamp (normally one; more means
// a duplicate the caller must resolve). Filtering on an extension
// attribute is an advanced query (ConsistencyLevel eventual and $count),
// answered from an index that lags writes: a guest stamped moments ago may
// not be found yet.
func (t *Target) FindByStamp(ctx context.Context, stamp string) ([]directory.User, error) {
	var out []directory.User
	err := t.list(ctx, "GET /users?$filter=stamp", filterEq(t.stampPath(), stamp), true, everyone,
		func(us []directory.User) error { out = append(out, us...); return nil })
	return out, err
}

// Stamped streams every user carrying a ctsync stamp, a page at a time
// (to rebuild the map from the target, the truth). Graph supports no
// startsWith on extension attributes (400), so it asks for every user
// whose stamp attribute is set (ne null, an advanced query) and keeps
// those whose value has the ctsync stamp prefix: the attribute may hold
// other tools' values. The index behind it lags writes (seconds).
func (t *Target) Stamped(ctx context.Context, page func([]directory.User) error) error {
	attr := t.c.cfg.StampAttribute
	stamped := func(u directory.User) bool {
		return strings.HasPrefix(u.Str(attr), directory.StampPrefix)
	}
	return t.list(ctx, "GET /users?$filter=stamped", t.stampPath()+" ne null", true, stamped, page)
}

// stampPath is the stamp attribute's path in a $filter.
func (t *Target) stampPath() string { return propExtAttrs + "/" + t.c.cfg.StampAttribute }

// FindByMail returns the users whose mail or otherMails is mail.
func (t *Target) FindByMail(ctx context.Context, mail string) ([]directory.User, error) {
	var out []directory.User
	f := filterEq(directory.PropMail, mail) + " or " + filterAnyEq(directory.PropOtherMails, mail)
	err := t.list(ctx, "GET /users?$filter=mail", f, false, everyone,
		func(us []directory.User) error { out = append(out, us...); return nil })
	return out, err
}

// list pages through GET /users with filter, handing page the users keep
// accepts. An advanced query sends ConsistencyLevel: eventual and
// $count=true, which Graph needs for ne, null checks and extension
// attributes (without them it answers 400).
func (t *Target) list(ctx context.Context, op, filter string, advanced bool, keep func(directory.User) bool,
	page func([]directory.User) error) error {
	c := t.c
	props := t.guestProps()
	top := int32(c.cfg.PageSize)
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
			Select: selectFor(props), Filter: &filter, Top: &top,
		},
	}
	if advanced {
		cfg.Headers = abs.NewRequestHeaders()
		cfg.Headers.Add("ConsistencyLevel", "eventual")
		count := true
		cfg.QueryParameters.Count = &count
	}
	return c.listUsers(ctx, op, cfg, props, keep, page)
}

// Invite creates a B2B user for inv.Email and returns its object ID. No
// invitation mail is sent unless inv.SendMessage. Every call naming the new
// user (or referencing it, as a manager) through this client retries 404s
// for RetryPolicy.Replication, however many succeeded before.
func (t *Target) Invite(ctx context.Context, inv directory.Invitation) (string, error) {
	c := t.c
	if inv.Email == "" {
		return "", &GraphError{Tenant: c.cfg.Name, Op: "POST /invitations", Err: fmt.Errorf("invitation without an email address")}
	}
	body := models.NewInvitation()
	body.SetInvitedUserEmailAddress(&inv.Email)
	redirect := inv.RedirectURL
	if redirect == "" {
		redirect = DefaultRedirectURL
	}
	body.SetInviteRedirectUrl(&redirect)
	if inv.DisplayName != "" {
		body.SetInvitedUserDisplayName(&inv.DisplayName)
	}
	if inv.UserType != "" {
		body.SetInvitedUserType(&inv.UserType)
	}
	send := inv.SendMessage
	body.SetSendInvitationMessage(&send)

	var id string
	// Retried on 429/5xx like every call: re-inviting an address that
	// already has a guest returns that guest, no second object.
	err := c.call(ctx, "POST /invitations", callOpts{}, func(ctx context.Context) error {
		res, err := invitations.NewInvitationsRequestBuilderInternal(map[string]string{}, c.adapter).Post(ctx, body, nil)
		if err == nil && res != nil && res.GetInvitedUser() != nil {
			id = deref(res.GetInvitedUser().GetId())
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", &GraphError{Tenant: c.cfg.Name, Op: "POST /invitations", Err: fmt.Errorf("invitation answered without invitedUser.id")}
	}
	c.noteCreated(id)
	return id, nil
}

// Young tells the target that object id was created at created (as the
// caller's own store knows, e.g. a guest invited by an earlier process):
// until RetryPolicy.Replication after created, a 404 on any call naming
// id is retried, as for the users Invite creates. An older created is
// ignored.
func (t *Target) Young(id string, created time.Time) { t.c.noteCreatedAt(id, created) }

// Get reads one user with props (including "manager" when asked).
func (t *Target) Get(ctx context.Context, id string, props []string) (*directory.User, error) {
	u, err := t.c.getUser(ctx, id, props)
	if err != nil {
		return nil, err
	}
	if wantsManager(props) {
		one := []directory.User{*u}
		if err := t.c.fillManagers(ctx, one, everyone); err != nil {
			return nil, err
		}
		u = &one[0]
	}
	return u, nil
}

// Update patches only the given properties (the caller passes the changed
// ones): Graph names, extensionAttributeN flattened, nil clears. "manager"
// (an object ID, or nil) is set or cleared through manager/$ref.
func (t *Target) Update(ctx context.Context, id string, props map[string]any) error {
	c := t.c
	patch := make(map[string]any, len(props))
	manager, setManager := any(nil), false
	for k, v := range props {
		if k == directory.PropManager {
			manager, setManager = v, true
			continue
		}
		patch[k] = v
	}
	if len(patch) > 0 {
		body, err := toModel(patch)
		if err != nil {
			return &GraphError{Tenant: c.cfg.Name, Op: "PATCH /users/{id}", Err: err}
		}
		err = c.call(ctx, "PATCH /users/{id}", c.callOptsFor(id), func(ctx context.Context) error {
			_, err := c.usersBuilder().ByUserId(id).Patch(ctx, body, nil)
			return err
		})
		if err != nil {
			return err
		}
	}
	if setManager {
		return t.setManager(ctx, id, manager)
	}
	return nil
}

func (t *Target) setManager(ctx context.Context, id string, manager any) error {
	c := t.c
	ref := c.usersBuilder().ByUserId(id).Manager().Ref()
	switch m := manager.(type) {
	case nil:
		// 404 means "no manager" (or a user so new it has none yet): the
		// goal is reached either way, so no replication retry here.
		err := c.call(ctx, "DELETE /users/{id}/manager/$ref", callOpts{}, func(ctx context.Context) error {
			return ref.Delete(ctx, nil)
		})
		if IsNotFound(err) {
			return nil
		}
		return err
	case string:
		body := models.NewReferenceUpdate()
		odataID := c.cfg.GraphBaseURL + "/directoryObjects/" + m
		body.SetOdataId(&odataID)
		// Either end may be young: Graph answers 404 for a referenced
		// object that has not reached the replica either.
		return c.call(ctx, "PUT /users/{id}/manager/$ref", c.callOptsFor(id, m), func(ctx context.Context) error {
			return ref.Put(ctx, body, nil)
		})
	default:
		return &GraphError{Tenant: c.cfg.Name, Op: "PUT /users/{id}/manager/$ref", Err: fmt.Errorf("manager must be an object ID or nil, got %T", manager)}
	}
}

// Disable sets accountEnabled to false.
func (t *Target) Disable(ctx context.Context, id string) error {
	return t.Update(ctx, id, map[string]any{directory.PropAccountEnabled: false})
}

// SoftDelete deletes the user into deleted items (restorable 30 days).
func (t *Target) SoftDelete(ctx context.Context, id string) error {
	c := t.c
	o := c.callOptsFor(id)
	o.goneIsDone = true
	err := c.call(ctx, "DELETE /users/{id}", o, func(ctx context.Context) error {
		return c.usersBuilder().ByUserId(id).Delete(ctx, nil)
	})
	if err == nil {
		c.forget(id)
	}
	return err
}

// Restore brings a soft-deleted user back from deleted items.
func (t *Target) Restore(ctx context.Context, id string) error {
	c := t.c
	return c.call(ctx, "POST /directory/deletedItems/{id}/restore", callOpts{}, func(ctx context.Context) error {
		_, err := t.deletedItem(id).Restore().Post(ctx, nil)
		return err
	})
}

// HardDelete removes a user for good: a live user is soft-deleted first
// (Graph only purges from deleted items), then purged. A user already in
// deleted items skips the first step; one already purged answers
// IsNotFound, which callers take as done.
func (t *Target) HardDelete(ctx context.Context, id string) error {
	c := t.c
	o := callOpts{goneIsDone: true}
	switch err := t.SoftDelete(ctx, id); {
	case err == nil:
		// Just moved into deleted items: a replica may not show it there
		// yet, so a 404 is retried for the replication window.
		o.notFoundUntil = c.clock.Now().Add(c.cfg.Retry.Replication)
	case !IsNotFound(err):
		return err
	}
	err := c.call(ctx, "DELETE /directory/deletedItems/{id}", o, func(ctx context.Context) error {
		return t.deletedItem(id).Delete(ctx, nil)
	})
	if err == nil {
		c.forget(id)
	}
	return err
}

func (t *Target) deletedItem(id string) *graphdir.DeletedItemsDirectoryObjectItemRequestBuilder {
	return graphdir.NewDirectoryRequestBuilderInternal(map[string]string{}, t.c.adapter).DeletedItems().ByDirectoryObjectId(id)
}
